using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>Where <c>namespaceSelector</c> reads a namespace's labels (the Kubernetes API in a cluster, a fixed map in tests and the CLI).</summary>
public interface INamespaceLabelSource
{
    /// <summary>The namespace's labels. Throws <see cref="NamespaceLabelException"/> when they cannot be read.</summary>
    ValueTask<LabelSet> GetLabelsAsync(string name, CancellationToken cancellationToken);
}

/// <summary>The labels of a namespace could not be read; the message is safe to show (no tokens, no bodies).</summary>
public sealed class NamespaceLabelException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Labels given up front, for clusters the process cannot reach (the <c>check</c> command, tests).</summary>
public sealed class StaticNamespaceLabels(IReadOnlyDictionary<string, LabelSet> labels) : INamespaceLabelSource
{
    public ValueTask<LabelSet> GetLabelsAsync(string name, CancellationToken cancellationToken) =>
        labels.TryGetValue(name, out var found)
            ? ValueTask.FromResult(found)
            : throw new NamespaceLabelException($"namespace {name} is not among the configured namespaces");
}

using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Check;

/// <summary>The verdict on one object read from a manifest.</summary>
/// <param name="Resource">Kyverno's name for it: <c>Kind/namespace/name</c>.</param>
/// <param name="Result">The worst row (<see cref="RuleOutcomeStatus.Skip"/> when no rule applied).</param>
/// <param name="Message">The webhook's denial message when the object would be refused.</param>
public sealed record ResourceReport(
    ManifestDocument Source,
    string Resource,
    RuleOutcomeStatus Result,
    IReadOnlyList<RuleOutcome> Rows,
    string? Message,
    IReadOnlyList<string> Warnings);

/// <summary>
/// Judges an object as the cluster would on <c>kubectl create</c>: a CREATE review through the mutating pass, its
/// patch applied, then the validating pass (so <c>verifyDigest</c> and <c>required</c> see the pinned digests).
/// </summary>
public sealed class ManifestChecker(AdmissionEngine engine)
{
    /// <summary>kubectl puts an object without a namespace into the context's namespace, usually this one.</summary>
    public const string DefaultNamespace = "default";

    public async Task<ResourceReport> CheckAsync(ManifestDocument document, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (document.Object is not { } resource)
        {
            throw new ArgumentException("the document holds no object: " + document.Error, nameof(document));
        }

        var request = CreateRequest(resource);
        var label = $"{request.Kind!.Kind}/{request.Namespace}/{request.Name}";
        var mutation = await engine.DecideWithOutcomesAsync(request, mutate: true, cancellationToken).ConfigureAwait(false);
        var rows = new List<RuleOutcome>(mutation.Outcomes);
        var warnings = new List<string>(mutation.Response.Warnings ?? []);
        if (!mutation.Response.Allowed)
        {
            // The API server stops at a mutating denial; the validating webhook never sees the object.
            return Report(document, label, rows, mutation.Response.Status?.Message ?? "denied", warnings);
        }

        if (mutation.Response.Patch is { } patch)
        {
            try
            {
                request.Object = JsonPatch.Apply(resource, patch);
            }
            catch (FormatException e)
            {
                rows.Add(new RuleOutcome("-", "-", null, null, RuleOutcomeStatus.Fail, "the mutating patch does not apply: " + e.Message));
                return Report(document, label, rows, "the mutating patch does not apply: " + e.Message, warnings);
            }
        }

        var validation = await engine.DecideWithOutcomesAsync(request, mutate: false, cancellationToken).ConfigureAwait(false);
        Merge(rows, validation.Outcomes);
        foreach (var warning in validation.Response.Warnings ?? [])
        {
            if (!warnings.Contains(warning))
            {
                warnings.Add(warning);
            }
        }

        return Report(document, label, rows, validation.Response.Allowed ? null : validation.Response.Status?.Message ?? "denied", warnings);
    }

    /// <summary>A CREATE review of <paramref name="resource"/>, as the API server would send it.</summary>
    public static AdmissionRequest CreateRequest(JsonElement resource)
    {
        var apiVersion = ManifestReader.ReadString(resource, "apiVersion") ?? string.Empty;
        var kind = ManifestReader.ReadString(resource, "kind") ?? string.Empty;
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        var group = slash < 0 ? string.Empty : apiVersion[..slash];
        var version = slash < 0 ? apiVersion : apiVersion[(slash + 1)..];
        resource.TryGetProperty("metadata", out var metadata);
        var name = ManifestReader.ReadString(metadata, "name") ?? ManifestReader.ReadString(metadata, "generateName") ?? string.Empty;
        var ns = ManifestReader.ReadString(metadata, "namespace") is { Length: > 0 } given ? given : DefaultNamespace;
        return new AdmissionRequest
        {
            Uid = Guid.NewGuid().ToString(),
            Kind = new GroupVersionKind { Group = group, Version = version, Kind = kind },
            // Matching reads the kind; the plural is only informational, so the regular English plural is enough.
            Resource = new GroupVersionResource { Group = group, Version = version, Resource = kind.ToLowerInvariant() + "s" },
            Name = name,
            Namespace = ns,
            Operation = "CREATE",
            Object = resource,
        };
    }

    /// <summary>The validating verdicts join the mutating ones; for the same rule and image the worse one stands.</summary>
    private static void Merge(List<RuleOutcome> rows, IReadOnlyList<RuleOutcome> validation)
    {
        foreach (var outcome in validation)
        {
            var index = rows.FindIndex(r => r.Policy == outcome.Policy && r.Rule == outcome.Rule && r.Pointer == outcome.Pointer);
            if (index < 0)
            {
                rows.Add(outcome);
            }
            else if (outcome.Status > rows[index].Status)
            {
                // Keep the image as written in the manifest, not as the mutating pass pinned it.
                rows[index] = outcome with { Image = rows[index].Image ?? outcome.Image };
            }
        }
    }

    private static ResourceReport Report(ManifestDocument document, string label, List<RuleOutcome> rows, string? denial, List<string> warnings)
    {
        var result = rows.Count == 0 ? RuleOutcomeStatus.Skip : rows.Max(r => r.Status);
        if (denial is not null)
        {
            result = RuleOutcomeStatus.Fail;
        }

        return new ResourceReport(document, label, result, rows, denial, warnings);
    }
}

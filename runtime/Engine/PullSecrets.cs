using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>Where the registry credentials of a Pod's <c>imagePullSecrets</c> are read (the Kubernetes API in a cluster).</summary>
public interface IPullSecretSource
{
    /// <summary>The Docker config entries of the Secret. Throws <see cref="SecretKeyException"/> when it cannot be read.</summary>
    ValueTask<IReadOnlyList<DockerConfigEntry>> GetAsync(string @namespace, string name, CancellationToken cancellationToken);
}

/// <summary>The <c>imagePullSecrets</c> a review's object names: the Pod's, or its template's for Pod controllers.</summary>
public static class PullSecretNames
{
    public static IReadOnlyList<string> Of(AdmissionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var spec = Field(context.Resource, "spec");
        foreach (var path in s_templatePaths)
        {
            var podSpec = path.Aggregate(spec, Field);
            if (podSpec.ValueKind == JsonValueKind.Object && Field(podSpec, "imagePullSecrets") is { ValueKind: JsonValueKind.Array } secrets)
            {
                return [.. secrets.EnumerateArray()
                    .Select(s => Field(s, "name"))
                    .Where(n => n.ValueKind == JsonValueKind.String && n.GetString()!.Length > 0)
                    .Select(n => n.GetString()!)
                    .Distinct(StringComparer.Ordinal)];
            }
        }

        return [];
    }

    // Pod, Pod controllers (spec.template.spec) and CronJob (spec.jobTemplate.spec.template.spec).
    private static readonly string[][] s_templatePaths = [[], ["template", "spec"], ["jobTemplate", "spec", "template", "spec"]];

    private static JsonElement Field(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) ? value : default;
}

using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Images;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// The data compiled conditions read. Kyverno evaluates attestation conditions in the rule's JSON context with the
/// predicate's fields merged on top: <c>{{ repo.branch }}</c> is the predicate's, <c>{{ request.object.metadata.name }}</c>
/// and <c>{{ images.containers.app.tag }}</c> come from the admission request.
/// </summary>
internal static class ConditionDocument
{
    /// <summary>
    /// The root for one statement. When no condition reads the request the predicate itself is the root: no copy, and
    /// the verdict stays independent of the request.
    /// </summary>
    public static JmesValue ForAttestation(JsonElement predicate, AdmissionContext? request, bool readsRequest)
    {
        if (!readsRequest || request is null || predicate.ValueKind != JsonValueKind.Object)
        {
            return JmesValue.FromJson(predicate);
        }

        var admission = request.ConditionData ??= AdmissionData(request);
        var root = new JmesObject(admission.Count + 8);
        for (var i = 0; i < admission.Count; i++)
        {
            var member = admission.GetAt(i);
            root.Set(member.Name, member.Value);
        }

        foreach (var property in predicate.EnumerateObject())
        {
            root.Set(property.Name, JmesValue.FromJson(property.Value));
        }

        return JmesValue.FromObject(root);
    }

    /// <summary><c>request</c> (the AdmissionRequest as the API server sent it) and <c>images</c> (the Pod's images, Kyverno's shape).</summary>
    private static JmesObject AdmissionData(AdmissionContext context)
    {
        var request = JsonSerializer.SerializeToElement(context.Request, AdmissionJsonContext.Default.AdmissionRequest);
        var byType = new Dictionary<string, JmesObject>(StringComparer.Ordinal);
        var images = new JmesObject(3);
        foreach (var extracted in ImageExtractor.Extract(context))
        {
            if (!KyvernoImage.TryParse(extracted.Text, "docker.io", enableDefaultRegistryMutation: true, out var info, out _))
            {
                continue;
            }

            if (!byType.TryGetValue(extracted.ContainerType, out var byName))
            {
                byName = new JmesObject();
                byType.Add(extracted.ContainerType, byName);
                images.Set(extracted.ContainerType, JmesValue.FromObject(byName));
            }

            byName.Set(extracted.ContainerName, info!.ToValue());
        }

        return new JmesObject(2)
            .Set("request", JmesValue.FromJson(request))
            .Set("images", JmesValue.FromObject(images));
    }
}

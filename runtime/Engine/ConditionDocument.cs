using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Images;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// The data compiled conditions read. Kyverno evaluates conditions in the rule's JSON context: <c>request</c> (the
/// AdmissionRequest as the API server sent it) and <c>images</c> (the Pod's images by container name); attestation
/// conditions see the predicate's fields merged on top, so <c>{{ repo.branch }}</c> is the predicate's and
/// <c>{{ request.object.metadata.name }}</c> the request's.
/// </summary>
internal static class ConditionDocument
{
    /// <summary>The root for preconditions: the admission documents, as the rule's variant sees them.</summary>
    public static JmesValue ForRequest(AdmissionContext request, RuleAutogen autogen, JmesObject? contextValues = null)
    {
        if (contextValues is null || contextValues.Count == 0)
        {
            return JmesValue.FromObject(AdmissionData(request, autogen));
        }

        var root = WithAdmissionData(request, autogen, extra: contextValues.Count);
        AddAll(root, contextValues);
        return JmesValue.FromObject(root);
    }

    /// <summary>The review's <c>request</c> and <c>images</c> as the rule's variant sees them (shared: do not modify).</summary>
    internal static JmesObject AdmissionDataFor(AdmissionContext request, RuleAutogen autogen) => AdmissionData(request, autogen);

    private static void AddAll(JmesObject root, JmesObject? values)
    {
        if (values is null)
        {
            return;
        }

        for (var i = 0; i < values.Count; i++)
        {
            var member = values.GetAt(i);
            root.Set(member.Name, member.Value);
        }
    }

    /// <summary>
    /// The root for one statement. When no condition reads the request the predicate itself is the root: no copy, and
    /// the verdict stays independent of the request.
    /// </summary>
    public static JmesValue ForAttestation(JsonElement predicate, AdmissionContext? request, bool readsRequest, RuleAutogen autogen = RuleAutogen.None, JmesObject? contextValues = null)
    {
        if (!readsRequest || request is null || predicate.ValueKind != JsonValueKind.Object)
        {
            return JmesValue.FromJson(predicate);
        }

        // The rule's context beside the request; the predicate's own fields come last and win, as Kyverno merges it on top.
        var root = WithAdmissionData(request, autogen, extra: 8 + (contextValues?.Count ?? 0));
        AddAll(root, contextValues);
        foreach (var property in predicate.EnumerateObject())
        {
            root.Set(property.Name, JmesValue.FromJson(property.Value));
        }

        return JmesValue.FromObject(root);
    }

    /// <summary>
    /// The root for <c>validate.deny</c>: the admission documents (when there is a request) and each named attestation's
    /// predicate under its name, as Kyverno adds them to the rule's context.
    /// </summary>
    public static JmesValue ForValidation(IReadOnlyList<(string Name, JsonElement Predicate)> named, AdmissionContext? request, RuleAutogen autogen = RuleAutogen.None, JmesObject? contextValues = null)
    {
        var extra = named.Count + (contextValues?.Count ?? 0);
        var root = request is null ? new JmesObject(extra) : WithAdmissionData(request, autogen, extra: extra);
        AddAll(root, contextValues);
        foreach (var (name, predicate) in named)
        {
            root.Set(name, JmesValue.FromJson(predicate));
        }

        return JmesValue.FromObject(root);
    }

    /// <summary>A new root holding the review's <c>request</c> and <c>images</c>, with room for <paramref name="extra"/> more members.</summary>
    private static JmesObject WithAdmissionData(AdmissionContext request, RuleAutogen autogen, int extra)
    {
        var admission = AdmissionData(request, autogen);
        var root = new JmesObject(admission.Count + extra);
        for (var i = 0; i < admission.Count; i++)
        {
            var member = admission.GetAt(i);
            root.Set(member.Name, member.Value);
        }

        return root;
    }

    /// <summary>Built once per review and variant, by the first condition that needs it (a race builds equal copies).</summary>
    private static JmesObject AdmissionData(AdmissionContext context, RuleAutogen autogen) =>
        context.ConditionData[(int)autogen] ??= BuildAdmissionData(context, autogen);

    private static JmesObject BuildAdmissionData(AdmissionContext context, RuleAutogen autogen)
    {
        var request = JmesValue.FromJson(JsonSerializer.SerializeToElement(context.Request, AdmissionJsonContext.Default.AdmissionRequest));
        if (autogen != RuleAutogen.None)
        {
            request = TemplateView(request, autogen);
        }

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
            .Set("request", request)
            .Set("images", JmesValue.FromObject(images));
    }

    /// <summary>
    /// The request as an auto-generated rule reads it: Kyverno rewrites <c>request.object.spec</c> to the Pod
    /// template's spec (and <c>.metadata</c> to its metadata), for <c>object</c> and <c>oldObject</c>. Only those two
    /// members are replaced, so every other path resolves exactly as in the rewritten rule.
    /// </summary>
    private static JmesValue TemplateView(JmesValue request, RuleAutogen autogen)
    {
        var view = Copy(request);
        foreach (var name in new[] { "object", "oldObject" })
        {
            var resource = request.Field(name);
            if (resource.Type != JmesType.Object)
            {
                continue;
            }

            var template = autogen == RuleAutogen.CronJob
                ? resource.Field("spec").Field("jobTemplate").Field("spec").Field("template")
                : resource.Field("spec").Field("template");
            var rewritten = new JmesObject(resource.GetPropertyCount());
            foreach (var member in resource.EnumerateObject())
            {
                var value = member.Name is "spec" or "metadata" ? template.Field(member.Name) : member.Value;
                if (!value.IsMissing)
                {
                    rewritten.Set(member.Name, value);
                }
            }

            view.Set(name, JmesValue.FromObject(rewritten));
        }

        return JmesValue.FromObject(view);
    }

    private static JmesObject Copy(JmesValue value)
    {
        var copy = new JmesObject(value.GetPropertyCount() + 1);
        foreach (var member in value.EnumerateObject())
        {
            copy.Set(member.Name, member.Value);
        }

        return copy;
    }
}

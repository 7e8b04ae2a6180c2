using System.Text.Json;

namespace PolicyCompiler.Runtime.Admission;

/// <summary>
/// The request as compiled match predicates see it: the kind split into group, version and kind, and the
/// resource's own metadata. Built once per review.
/// </summary>
public sealed class AdmissionContext
{
    public AdmissionContext(AdmissionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Request = request;
        Group = request.Kind?.Group ?? string.Empty;
        Version = request.Kind?.Version ?? string.Empty;
        Kind = request.Kind?.Kind ?? string.Empty;
        SubResource = request.SubResource ?? string.Empty;
        Namespace = request.Namespace ?? string.Empty;
        Operation = request.Operation ?? string.Empty;
        Resource = request.Object is { ValueKind: JsonValueKind.Object } o ? o : request.OldObject is { ValueKind: JsonValueKind.Object } old ? old : default;
        Name = !string.IsNullOrEmpty(request.Name) ? request.Name : ReadMetadataString(Resource, "name") ?? string.Empty;
    }

    public AdmissionRequest Request { get; }

    public string Group { get; }

    public string Version { get; }

    public string Kind { get; }

    public string SubResource { get; }

    public string Namespace { get; }

    public string Name { get; }

    public string Operation { get; }

    /// <summary>The object under review (the old object for DELETE); <c>default</c> when the request carries none.</summary>
    public JsonElement Resource { get; }

    /// <summary>
    /// The <c>request</c> and <c>images</c> documents conditions read, built once per review by the first condition
    /// that needs them (a race builds equal copies; either may win).
    /// </summary>
    internal Conditions.JmesObject?[] ConditionData { get; } = new Conditions.JmesObject?[3];

    /// <summary>
    /// Kyverno's kind selector: <paramref name="group"/> and <paramref name="version"/> are <see langword="null"/>
    /// when the policy did not name them; <c>*</c> matches anything; a request for a subresource only matches
    /// a selector that names it.
    /// </summary>
    public bool KindIs(string? group, string? version, string kind, string? subResource)
    {
        if (group is not null && !Wildcard.Match(group, Group))
        {
            return false;
        }

        if (version is not null && !Wildcard.Match(version, Version))
        {
            return false;
        }

        if (!Wildcard.Match(kind, Kind))
        {
            return false;
        }

        return subResource is null ? SubResource.Length == 0 : Wildcard.Match(subResource, SubResource);
    }

    private static string? ReadMetadataString(JsonElement resource, string property) =>
        resource.ValueKind == JsonValueKind.Object
        && resource.TryGetProperty("metadata", out var metadata)
        && metadata.ValueKind == JsonValueKind.Object
        && metadata.TryGetProperty(property, out var value)
        && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
}

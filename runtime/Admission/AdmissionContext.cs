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

    /// <summary>The resource's <c>metadata.labels</c> (the old object's for DELETE).</summary>
    public LabelSet Labels => _labels ??= LabelSet.FromJson(ReadMetadata(Resource, "labels"));

    /// <summary>The resource's <c>metadata.annotations</c>.</summary>
    public LabelSet Annotations => _annotations ??= LabelSet.FromJson(ReadMetadata(Resource, "annotations"));

    /// <summary>
    /// The labels of the request's namespace, for <c>namespaceSelector</c>: set by the engine before matching rules that read
    /// them; a Namespace under review is its own namespace; cluster-scoped resources have none.
    /// </summary>
    public LabelSet NamespaceLabels
    {
        get => _namespaceLabels ?? (Kind == "Namespace" && Group.Length == 0 ? Labels : LabelSet.Empty);
        set => _namespaceLabels = value;
    }

    public string UserName => Request.UserInfo?.Username ?? string.Empty;

    /// <summary>
    /// The user's <c>namespace:role</c> names from RoleBindings, set by the engine before matching rules with
    /// <c>roles</c>; empty until then.
    /// </summary>
    public IReadOnlySet<string> Roles { get; set; } = EmptyRoles;

    /// <summary>The user's ClusterRole names from RoleBindings and ClusterRoleBindings, set as <see cref="Roles"/> is.</summary>
    public IReadOnlySet<string> ClusterRoles { get; set; } = EmptyRoles;

    /// <summary>A <c>roles</c> entry: the user holds <paramref name="role"/> (<c>namespace:role</c>), compared exactly.</summary>
    public bool HasRole(string role) => Roles.Contains(role);

    /// <summary>A <c>clusterRoles</c> entry: the user holds <paramref name="clusterRole"/>, compared exactly.</summary>
    public bool HasClusterRole(string clusterRole) => ClusterRoles.Contains(clusterRole);

    internal bool RolesLoaded { get; set; }

    internal bool ClusterRolesLoaded { get; set; }

    /// <summary>Why the bindings could not be read, once a read failed: the review does not ask again.</summary>
    internal string? RoleLookupFailure { get; set; }

    private static readonly IReadOnlySet<string> EmptyRoles = new HashSet<string>();


    /// <summary>Kyverno's ServiceAccount subject: <paramref name="pattern"/> is <c>namespace:name</c> (wildcards allowed) against the username after <c>system:serviceaccount:</c>.</summary>
    public bool ServiceAccountMatches(string pattern)
    {
        const string Prefix = "system:serviceaccount:";
        var user = UserName;
        return user.Length > Prefix.Length && user.StartsWith(Prefix, StringComparison.Ordinal) && Wildcard.Match(pattern, user[Prefix.Length..]);
    }

    /// <summary>Kyverno's User and Group subjects both compare the name with the username and with every group.</summary>
    public bool UserOrGroupMatches(string pattern)
    {
        if (Wildcard.Match(pattern, UserName))
        {
            return true;
        }

        foreach (var group in Request.UserInfo?.Groups ?? [])
        {
            if (group is not null && Wildcard.Match(pattern, group))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The <c>request</c> and <c>images</c> documents conditions read, built once per review by the first condition
    /// that needs them (a race builds equal copies; either may win).
    /// </summary>
    internal Conditions.JmesObject?[] ConditionData { get; } = new Conditions.JmesObject?[3];

    /// <summary>
    /// The loaded <c>context</c> of each rule that has one, written by the engine before any check of this review starts
    /// and only read after: the values by entry name, and a digest of them for the verification cache's key.
    /// </summary>
    internal Dictionary<object, (Conditions.JmesObject Values, string Fingerprint)> RuleContext { get; } = [];

    /// <summary>The loaded context values of <paramref name="rule"/>, or null when it has none.</summary>
    internal (Conditions.JmesObject Values, string Fingerprint)? ContextFor(object rule) => RuleContext.TryGetValue(rule, out var found) ? found : null;

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

    private LabelSet? _labels;
    private LabelSet? _annotations;
    private LabelSet? _namespaceLabels;

    private static JsonElement ReadMetadata(JsonElement resource, string property) =>
        resource.ValueKind == JsonValueKind.Object
        && resource.TryGetProperty("metadata", out var metadata)
        && metadata.ValueKind == JsonValueKind.Object
        && metadata.TryGetProperty(property, out var value)
            ? value
            : default;

    private static string? ReadMetadataString(JsonElement resource, string property) =>
        ReadMetadata(resource, property) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;
}

using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// One entry of a rule's <c>context</c>: a named value added to the data its variables read, beside <c>request</c> and
/// <c>images</c>. Entries are loaded in order, each able to read the ones before it.
/// </summary>
public abstract class ContextEntryDefinition(string name)
{
    public string Name { get; } = name;
}

/// <summary>
/// <c>variable</c>: <c>value</c> (substituted), or <c>jmesPath</c> over the context when there is no value, or over the value
/// when there is one; <c>default</c> when the expression fails or (without a value) gives null. A <c>jmesPath</c> with
/// variables in it is <paramref name="jmesPathWithVariables"/> instead of <paramref name="jmesPath"/>.
/// </summary>
public sealed class VariableContextEntry(string name, JmesFunc? value, JmesFunc? jmesPath = null, JmesFunc? @default = null, ContextJmesFunc? jmesPathWithVariables = null)
    : ContextEntryDefinition(name)
{
    public ContextJmesFunc? JmesPathWithVariables { get; } = jmesPathWithVariables;

    public JmesFunc? Value { get; } = value;

    public JmesFunc? JmesPath { get; } = jmesPath;

    public JmesFunc? Default { get; } = @default;
}

/// <summary><c>configMap</c>: the ConfigMap's <c>data</c> and <c>metadata</c>, read through the Kubernetes API.</summary>
public sealed class ConfigMapContextEntry(string name, JmesFunc configMapName, JmesFunc? @namespace, string? literalName = null, string? literalNamespace = null) : ContextEntryDefinition(name)
{
    public JmesFunc ConfigMapName { get; } = configMapName;

    public JmesFunc? Namespace { get; } = @namespace;

    /// <summary>The name when the policy writes it without variables, else null: <c>policy-compiler manifests</c> grants only that ConfigMap.</summary>
    public string? LiteralName { get; } = literalName;

    /// <summary>
    /// The namespace when the policy writes one without variables, else null (not written, or templated: see
    /// <see cref="Namespace"/>), so that <c>policy-compiler manifests</c> can grant a Role in that namespace only.
    /// </summary>
    public string? LiteralNamespace { get; } = literalNamespace;
}

/// <summary>
/// <c>globalReference</c>: the data of the GlobalContextEntry named <see cref="EntryName"/> (for a
/// <c>kubernetesResource</c> entry the list of its objects, for an <c>apiCall</c> entry the call's answer), with
/// <c>jmesPath</c> applied.
/// </summary>
public sealed class GlobalReferenceContextEntry(string name, JmesFunc entryName, JmesFunc? jmesPath = null, ContextJmesFunc? jmesPathWithVariables = null) : ContextEntryDefinition(name)
{
    public JmesFunc EntryName { get; } = entryName;

    public JmesFunc? JmesPath { get; } = jmesPath;

    public ContextJmesFunc? JmesPathWithVariables { get; } = jmesPathWithVariables;
}

/// <summary>One member of an <c>apiCall</c> POST body; <paramref name="KeyTemplate"/> when the key is written with variables (<paramref name="Key"/> is then the text as written).</summary>
public sealed record ApiCallData(string Key, JmesFunc Value, JmesFunc? KeyTemplate = null);

/// <summary>One <c>apiCall.service.headers</c> item: the header's name and its value template.</summary>
public sealed record ServiceHeader(string Key, JmesFunc Value, JmesFunc? KeyTemplate = null);

/// <summary><c>apiCall.service</c>: the URL, the PEM CAs trusted for it (the system's when null) and headers, all templates.</summary>
public sealed record ServiceCallDefinition(JmesFunc Url, JmesFunc? CaBundle = null, ImmutableArray<ServiceHeader> Headers = default)
{
    public ImmutableArray<ServiceHeader> Headers { get; } = Headers.IsDefault ? [] : Headers;
}

/// <summary>
/// <c>apiCall</c>: a GET (or a POST with <c>data</c>) of <c>urlPath</c> on the Kubernetes API server, or of
/// <c>service.url</c> on a service outside it; <c>jmesPath</c> applied to the answer; <c>default</c> instead of the answer
/// when the call fails. Exactly one of <paramref name="urlPath"/> and <paramref name="service"/> is given.
/// </summary>
public sealed class ApiCallContextEntry(string name, JmesFunc? urlPath, string method, ImmutableArray<ApiCallData> data = default, JmesFunc? jmesPath = null, JmesFunc? @default = null, ServiceCallDefinition? service = null, ContextJmesFunc? jmesPathWithVariables = null, string? urlPathText = null)
    : ContextEntryDefinition(name)
{
    public JmesFunc? UrlPath { get; } = urlPath;

    /// <summary>
    /// <c>urlPath</c> as the policy writes it, variables included, for <c>policy-compiler manifests</c>: the RBAC the
    /// call needs is known from the text alone when it has no variables.
    /// </summary>
    public string? UrlPathText { get; } = urlPathText;

    public ServiceCallDefinition? Service { get; } = service;

    public ContextJmesFunc? JmesPathWithVariables { get; } = jmesPathWithVariables;

    public string Method { get; } = method;

    public ImmutableArray<ApiCallData> Data { get; } = data.IsDefault ? [] : data;

    public JmesFunc? JmesPath { get; } = jmesPath;

    public JmesFunc? Default { get; } = @default;
}

/// <summary>
/// <c>imageRegistry</c>: what the registry serves for <c>reference</c> (substituted), as Kyverno's image data loader exposes
/// it (<c>image</c>, <c>resolvedImage</c>, <c>registry</c>, <c>repository</c>, <c>identifier</c>, <c>manifest</c>,
/// <c>configData</c>), <c>jmesPath</c> applied to that object; read with the entry's <c>imageRegistryCredentials</c>.
/// </summary>
public sealed class ImageRegistryContextEntry(string name, JmesFunc reference, JmesFunc? jmesPath = null, RegistryCredentialsDefinition? registryCredentials = null, ContextJmesFunc? jmesPathWithVariables = null)
    : ContextEntryDefinition(name)
{
    public ContextJmesFunc? JmesPathWithVariables { get; } = jmesPathWithVariables;

    public JmesFunc Reference { get; } = reference;

    public JmesFunc? JmesPath { get; } = jmesPath;

    public RegistryCredentialsDefinition? RegistryCredentials { get; } = registryCredentials;
}

/// <summary>
/// Where <c>imageRegistry</c> entries read from: an OCI registry, with the credentials of the
/// <see cref="Registry.RegistryCredentialScope"/> in effect.
/// </summary>
public interface IImageDataSource
{
    /// <summary>Kyverno's image data object for <paramref name="reference"/>. Throws <see cref="ContextDataException"/>.</summary>
    ValueTask<JsonElement> GetImageDataAsync(string reference, CancellationToken cancellationToken);
}

/// <summary>Where <c>configMap</c> and <c>apiCall</c> entries read from: the Kubernetes API in a cluster.</summary>
public interface IContextDataSource
{
    /// <summary>The ConfigMap object. Throws <see cref="ContextDataException"/>.</summary>
    ValueTask<JsonElement> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken);

    /// <summary>The JSON answer to <paramref name="method"/> <paramref name="path"/> (with a JSON body for POST). Throws <see cref="ContextDataException"/>.</summary>
    ValueTask<JsonElement> CallAsync(string method, string path, string? body, CancellationToken cancellationToken);
}

/// <summary>One call to a service outside the API server, its variables substituted.</summary>
public sealed record ServiceCallRequest(string Method, Uri Url, string? CaBundle, IReadOnlyList<KeyValuePair<string, string>> Headers, string? Body);

/// <summary>Where <c>apiCall.service</c> entries are sent: HTTP(S) to the named service, never with the webhook's own credentials.</summary>
public interface IServiceCallSource
{
    /// <summary>The JSON answer. Throws <see cref="ContextDataException"/>.</summary>
    ValueTask<JsonElement> CallAsync(ServiceCallRequest request, CancellationToken cancellationToken);
}

/// <summary>Where <c>globalReference</c> entries read from: GlobalContextEntry resources and the data they name.</summary>
public interface IGlobalContextSource
{
    /// <summary>
    /// The entry's data, or with <paramref name="projection"/> the value of that one of its <c>spec.projections</c>.
    /// Throws <see cref="ContextDataException"/>.
    /// </summary>
    ValueTask<JsonElement> GetAsync(string entryName, string? projection, CancellationToken cancellationToken);
}

/// <summary>
/// What context entries read from: the Kubernetes API (ConfigMaps, urlPath calls), services (service calls), global
/// context entries and registries (image data).
/// </summary>
/// <param name="RegistryScope">The credentials an <c>imageRegistry</c> entry reads with (from its
/// <c>imageRegistryCredentials</c>, null when it has none); without it the caller's scope is used.</param>
public sealed record ContextSources(
    IContextDataSource? Kubernetes,
    IServiceCallSource? Services = null,
    IGlobalContextSource? Global = null,
    IImageDataSource? Images = null,
    Func<RegistryCredentialsDefinition?, CancellationToken, Task<Registry.RegistryCredentialScope.Scope?>>? RegistryScope = null);

/// <summary>
/// A context read failed. <see cref="IsTransient"/> when the API server could not be asked or answered with an error
/// (decided by failurePolicy); otherwise the object is missing or the answer unusable, which fails the rule.
/// </summary>
public sealed class ContextDataException(string message, bool isTransient, Exception? inner = null) : Exception(message, inner)
{
    public bool IsTransient { get; } = isTransient;
}

/// <summary>
/// Loads a rule's context entries as Kyverno's loaders do (pkg/engine/context/loaders). The messages follow Kyverno's;
/// the engine prefixes them with <c>failed to load context: </c>.
/// </summary>
public static class ContextLoader
{
    /// <summary>
    /// The entries' values by name. <paramref name="admission"/> holds <c>request</c> and <c>images</c>, which every entry
    /// may read. Throws <see cref="ContextDataException"/> when an entry cannot be loaded (transient or not).
    /// <paramref name="registryScope"/> gives the credentials an <c>imageRegistry</c> entry reads with (its
    /// <c>imageRegistryCredentials</c>, null when it has none); without it the caller's scope is used.
    /// </summary>
    public static Task<JmesObject> LoadAsync(
        ImmutableArray<ContextEntryDefinition> entries,
        JmesObject admission,
        string? policyNamespace,
        IContextDataSource? source,
        JmesContext jmes,
        CancellationToken cancellationToken,
        IImageDataSource? images = null,
        Func<RegistryCredentialsDefinition?, CancellationToken, Task<Registry.RegistryCredentialScope.Scope?>>? registryScope = null) =>
        LoadAsync(entries, admission, policyNamespace, new ContextSources(source, Images: images, RegistryScope: registryScope), jmes, cancellationToken);

    /// <inheritdoc cref="LoadAsync(ImmutableArray{ContextEntryDefinition}, JmesObject, string?, IContextDataSource?, JmesContext, CancellationToken, IImageDataSource?, Func{RegistryCredentialsDefinition?, CancellationToken, Task{Registry.RegistryCredentialScope.Scope?}}?)"/>
    public static async Task<JmesObject> LoadAsync(
        ImmutableArray<ContextEntryDefinition> entries,
        JmesObject admission,
        string? policyNamespace,
        ContextSources sources,
        JmesContext jmes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var source = sources.Kubernetes;
        ArgumentNullException.ThrowIfNull(admission);
        ArgumentNullException.ThrowIfNull(jmes);
        var values = new JmesObject(entries.Length);
        var root = new JmesObject(admission.Count + entries.Length);
        for (var i = 0; i < admission.Count; i++)
        {
            var member = admission.GetAt(i);
            root.Set(member.Name, member.Value);
        }

        foreach (var entry in entries)
        {
            var data = JmesValue.FromObject(root);
            var value = entry switch
            {
                VariableContextEntry variable => LoadVariable(variable, data, jmes),
                ConfigMapContextEntry configMap => await LoadConfigMapAsync(configMap, data, policyNamespace, source, jmes, cancellationToken).ConfigureAwait(false),
                GlobalReferenceContextEntry global => await LoadGlobalReferenceAsync(global, data, sources.Global, jmes, cancellationToken).ConfigureAwait(false),
                ApiCallContextEntry { Service: { } service } apiCall => await LoadServiceCallAsync(apiCall, service, data, sources.Services, jmes, cancellationToken).ConfigureAwait(false),
                ApiCallContextEntry apiCall => await LoadApiCallAsync(apiCall, data, policyNamespace, source, jmes, cancellationToken).ConfigureAwait(false),
                ImageRegistryContextEntry image => await LoadImageDataAsync(image, data, sources.Images, sources.RegistryScope, jmes, cancellationToken).ConfigureAwait(false),
                _ => throw new ContextDataException($"context entry {entry.Name} has an unknown source", isTransient: false),
            };

            values.Set(entry.Name, value);
            root.Set(entry.Name, value);
        }

        return values;
    }

    private static JmesValue LoadVariable(VariableContextEntry entry, JmesValue root, JmesContext jmes)
    {
        var fallback = entry.Default is null ? (JmesValue?)null : Substitute(entry.Name, "default", entry.Default, root, jmes);
        JmesValue? output = fallback;
        var hasJmesPath = entry.JmesPath is not null || entry.JmesPathWithVariables is not null;
        if (entry.Value is not null)
        {
            var value = Substitute(entry.Name, "value", entry.Value, root, jmes);
            output = value;
            if (hasJmesPath)
            {
                try
                {
                    output = Present(ApplyJmesPath(entry.Name, entry.JmesPath, entry.JmesPathWithVariables, value, root, jmes));
                }
                catch (JmesPathException e)
                {
                    output = fallback ?? throw new ContextDataException($"failed to apply jmespath to variable {entry.Name}: {e.Message}", isTransient: false, e);
                }
            }
        }
        else if (hasJmesPath)
        {
            try
            {
                var found = Present(ApplyJmesPath(entry.Name, entry.JmesPath, entry.JmesPathWithVariables, root, root, jmes));
                if (found is { IsNull: false })
                {
                    output = found;
                }
            }
            catch (JmesPathException e)
            {
                output = fallback ?? throw new ContextDataException($"failed to apply jmespath to variable {entry.Name}: {e.Message}", isTransient: false, e);
            }
        }

        return output is { IsNull: false } result
            ? result
            : throw new ContextDataException($"failed to add context entry for variable {entry.Name} since it evaluated to nil", isTransient: false);
    }

    private static async Task<JmesValue> LoadConfigMapAsync(ConfigMapContextEntry entry, JmesValue root, string? policyNamespace, IContextDataSource? source, JmesContext jmes, CancellationToken cancellationToken)
    {
        var name = Text(entry.Name, "configMap.name", entry.ConfigMapName, root, jmes);
        var ns = entry.Namespace is null ? string.Empty : Text(entry.Name, "configMap.namespace", entry.Namespace, root, jmes);
        if (ns.Length == 0)
        {
            // A namespaced policy reads its own namespace; a ClusterPolicy, as in Kyverno, "default".
            ns = policyNamespace ?? "default";
        }

        if (policyNamespace is not null && ns != policyNamespace)
        {
            throw new ContextDataException($"context entry {entry.Name}: configMap namespace \"{ns}\" is different from policy namespace \"{policyNamespace}\"", isTransient: false);
        }

        if (source is null)
        {
            throw new ContextDataException($"failed to retrieve config map for context entry {entry.Name}: no Kubernetes API is configured", isTransient: false);
        }

        JsonElement configMap;
        try
        {
            configMap = await source.GetConfigMapAsync(ns, name, cancellationToken).ConfigureAwait(false);
        }
        catch (ContextDataException e)
        {
            throw new ContextDataException($"failed to retrieve config map for context entry {entry.Name}: failed to get configmap {ns}/{name}: {e.Message}", e.IsTransient, e);
        }

        // Kyverno keeps the ConfigMap's data and metadata, nothing else (no binaryData).
        var value = new JmesObject(2);
        value.Set("data", configMap.ValueKind == JsonValueKind.Object && configMap.TryGetProperty("data", out var data) ? JmesValue.FromJson(data) : JmesValue.FromObject(new JmesObject(0)));
        value.Set("metadata", configMap.ValueKind == JsonValueKind.Object && configMap.TryGetProperty("metadata", out var metadata) ? JmesValue.FromJson(metadata) : JmesValue.FromObject(new JmesObject(0)));
        return JmesValue.FromObject(value);
    }

    private static async Task<JmesValue> LoadApiCallAsync(ApiCallContextEntry entry, JmesValue root, string? policyNamespace, IContextDataSource? source, JmesContext jmes, CancellationToken cancellationToken)
    {
        var path = Text(entry.Name, "apiCall.urlPath", entry.UrlPath ?? throw new ContextDataException($"context entry {entry.Name} has no urlPath", isTransient: false), root, jmes);
        var body = Body(entry, root, jmes);

        JsonElement answer;
        try
        {
            if (!IsApiPath(path))
            {
                throw new ContextDataException($"the path must start with /api/ or /apis/", isTransient: false);
            }

            if (policyNamespace is not null && !path.Contains("/namespaces/" + policyNamespace + "/", StringComparison.Ordinal) && !path.EndsWith("/namespaces/" + policyNamespace, StringComparison.Ordinal))
            {
                // A namespaced policy must not read other namespaces with the webhook's own permissions (as Kyverno since CVE-2026-22039).
                throw new ContextDataException($"a namespaced policy may only call paths in its namespace {policyNamespace}", isTransient: false);
            }

            if (source is null)
            {
                throw new ContextDataException("no Kubernetes API is configured", isTransient: false);
            }

            answer = await source.CallAsync(entry.Method, path, body, cancellationToken).ConfigureAwait(false);
        }
        catch (ContextDataException e)
        {
            if (entry.Default is not null)
            {
                // Kyverno stores the default as it is, without the jmesPath, when the call fails.
                return Substitute(entry.Name, "apiCall.default", entry.Default, root, jmes);
            }

            throw new ContextDataException($"failed to fetch data for APICall: failed to {entry.Method} resource with raw url: {path}: {e.Message}", e.IsTransient, e);
        }

        return Transform(entry, answer, root, jmes);
    }

    private static async Task<JmesValue> LoadServiceCallAsync(ApiCallContextEntry entry, ServiceCallDefinition service, JmesValue root, IServiceCallSource? services, JmesContext jmes, CancellationToken cancellationToken)
    {
        // Kyverno substitutes every field of the call (url, caBundle, headers, data) before it is made.
        var url = Text(entry.Name, "apiCall.service.url", service.Url, root, jmes);
        var caBundle = service.CaBundle is null ? null : Text(entry.Name, "apiCall.service.caBundle", service.CaBundle, root, jmes);
        var headers = new List<KeyValuePair<string, string>>(service.Headers.Length);
        foreach (var header in service.Headers)
        {
            var name = header.KeyTemplate is null ? header.Key : Text(entry.Name, "apiCall.service.headers.key", header.KeyTemplate, root, jmes);
            headers.Add(KeyValuePair.Create(name, Text(entry.Name, "apiCall.service.headers." + header.Key, header.Value, root, jmes)));
        }

        var body = Body(entry, root, jmes);
        JsonElement answer;
        try
        {
            // A name from a variable is known only now; one that is not a token would be refused by the HTTP stack
            // with a less telling error, or worse, split into two headers.
            foreach (var (name, _) in headers)
            {
                if (!IsHeaderToken(name))
                {
                    // Quoted as JSON quotes it, so that a line break in the name shows as \r\n rather than breaking the message.
                    var shown = JsonEncodedText.Encode(name, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
                    throw new ContextDataException($"the header name \"{shown}\" is not an HTTP header name (a token: letters, digits and !#$%&'*+-.^_`|~)", isTransient: false);
                }
            }

            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || uri.Host.Length == 0)
            {
                throw new ContextDataException($"the service URL \"{url}\" is not an absolute http or https URL", isTransient: false);
            }

            if (services is null)
            {
                throw new ContextDataException("no service caller is configured", isTransient: false);
            }

            answer = await services.CallAsync(new ServiceCallRequest(entry.Method, uri, caBundle, headers, body), cancellationToken).ConfigureAwait(false);
        }
        catch (ContextDataException e)
        {
            if (entry.Default is not null)
            {
                return Substitute(entry.Name, "apiCall.default", entry.Default, root, jmes);
            }

            throw new ContextDataException($"failed to fetch data for APICall {entry.Name}: {e.Message}", e.IsTransient, e);
        }

        return Transform(entry, answer, root, jmes);
    }

    private static async Task<JmesValue> LoadGlobalReferenceAsync(GlobalReferenceContextEntry entry, JmesValue root, IGlobalContextSource? source, JmesContext jmes, CancellationToken cancellationToken)
    {
        var name = Text(entry.Name, "globalReference.name", entry.EntryName, root, jmes);
        JsonElement data;
        try
        {
            // Kyverno splits the name at its dots: the first part names the entry, the second a projection, and any
            // further part is ignored. So an entry whose own name has a dot cannot be read, here as in Kyverno.
            var parts = name.Split('.');
            var entryName = parts[0];
            var projection = parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null;
            if (source is null)
            {
                throw new ContextDataException($"failed to fetch entry key={entryName}: no Kubernetes API is configured", isTransient: false);
            }

            data = await source.GetAsync(entryName, projection, cancellationToken).ConfigureAwait(false);
        }
        catch (ContextDataException e)
        {
            // Kyverno's global context loader words every failure this way.
            throw new ContextDataException($"failed to marshal APICall data for context entry {entry.Name}: {e.Message}", e.IsTransient, e);
        }

        var value = JmesValue.FromJson(data);
        if (entry.JmesPath is null && entry.JmesPathWithVariables is null)
        {
            return value;
        }

        try
        {
            return Present(ApplyJmesPath(entry.Name, entry.JmesPath, entry.JmesPathWithVariables, value, root, jmes)) ?? JmesValue.Null;
        }
        catch (JmesPathException e)
        {
            throw new ContextDataException($"failed to marshal APICall data for context entry {entry.Name}: failed to apply JMESPath for context entry {entry.Name}: {e.Message}", isTransient: false, e);
        }
    }

    /// <summary>Whether <paramref name="name"/> is an RFC 9110 token, what a header field name is made of.</summary>
    internal static bool IsHeaderToken(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The POST body: <c>data</c> as one JSON object, each value substituted; null for a GET.</summary>
    private static string? Body(ApiCallContextEntry entry, JmesValue root, JmesContext jmes)
    {
        if (entry.Method != "POST")
        {
            return null;
        }

        var members = new JmesObject(entry.Data.Length);
        foreach (var item in entry.Data)
        {
            var key = item.KeyTemplate is null ? item.Key : Text(entry.Name, "apiCall.data.key", item.KeyTemplate, root, jmes);
            members.Set(key, Substitute(entry.Name, "apiCall.data", item.Value, root, jmes));
        }

        return JmesValue.FromObject(members).ToJsonString();
    }

    private static JmesValue Transform(ApiCallContextEntry entry, JsonElement answer, JmesValue root, JmesContext jmes)
    {
        var result = JmesValue.FromJson(answer);
        if (entry.JmesPath is null && entry.JmesPathWithVariables is null)
        {
            return result;
        }

        try
        {
            return Present(ApplyJmesPath(entry.Name, entry.JmesPath, entry.JmesPathWithVariables, result, root, jmes)) ?? JmesValue.Null;
        }
        catch (ContextDataException) when (entry.Default is not null)
        {
            // Kyverno substitutes the whole apiCall, jmesPath included, before the call; when that fails it stores the default.
            return Substitute(entry.Name, "apiCall.default", entry.Default, root, jmes);
        }
        catch (JmesPathException e)
        {
            throw new ContextDataException($"failed to apply JMESPath for context entry {entry.Name}: {e.Message}", isTransient: false, e);
        }
    }

    private static async Task<JmesValue> LoadImageDataAsync(
        ImageRegistryContextEntry entry,
        JmesValue root,
        IImageDataSource? images,
        Func<RegistryCredentialsDefinition?, CancellationToken, Task<Registry.RegistryCredentialScope.Scope?>>? registryScope,
        JmesContext jmes,
        CancellationToken cancellationToken)
    {
        var reference = Substitute(entry.Name, "imageRegistry.reference", entry.Reference, root, jmes);
        if (reference.Type != JmesType.String)
        {
            throw new ContextDataException($"invalid image reference {KyvernoVariables.ToText(reference)}, image reference must be a string", isTransient: false);
        }

        if (images is null)
        {
            throw new ContextDataException($"failed to fetch image descriptor: {reference.GetString()}, error: no registry client is configured", isTransient: false);
        }

        if (registryScope is not null)
        {
            // This method's own scope: an async method's changes to it do not reach the caller or the next entry.
            Registry.RegistryCredentialScope.Enter(await registryScope(entry.RegistryCredentials, cancellationToken).ConfigureAwait(false));
        }

        var data = JmesValue.FromJson(await images.GetImageDataAsync(reference.GetString(), cancellationToken).ConfigureAwait(false));
        if (entry.JmesPath is null && entry.JmesPathWithVariables is null)
        {
            return data;
        }

        try
        {
            return Present(ApplyJmesPath(entry.Name, entry.JmesPath, entry.JmesPathWithVariables, data, root, jmes)) ?? JmesValue.Null;
        }
        catch (JmesPathException e)
        {
            throw new ContextDataException($"failed to apply JMESPath results to context entry {entry.Name}, error: {e.Message}", isTransient: false, e);
        }
    }

    /// <summary>
    /// The entry's jmesPath over <paramref name="input"/>. Variables in it read <paramref name="root"/>; one that does not
    /// resolve is Kyverno's substitution error, which no <c>default</c> replaces (a <see cref="ContextDataException"/>),
    /// while the expression's own failures stay <see cref="JmesPathException"/>s for the caller.
    /// </summary>
    private static JmesValue ApplyJmesPath(string entry, JmesFunc? jmesPath, ContextJmesFunc? withVariables, JmesValue input, JmesValue root, JmesContext jmes)
    {
        if (withVariables is null)
        {
            return jmesPath!(input, jmes);
        }

        try
        {
            return withVariables(input, root, jmes);
        }
        catch (JmesPathException e) when (e.Kind == JmesErrorKind.VariableNotFound)
        {
            // Only the nested variables resolve strictly: a plain JMESPath field that is missing gives null, never this.
            throw new ContextDataException($"failed to substitute variables in context entry {entry} jmesPath: {e.Message}", isTransient: false, e);
        }
    }

    private static bool IsApiPath(string path) =>
        (path.StartsWith("/api/", StringComparison.Ordinal) || path.StartsWith("/apis/", StringComparison.Ordinal)) && !path.Contains("/../", StringComparison.Ordinal) && !path.Contains("://", StringComparison.Ordinal);

    /// <summary>A missing field reads as null, as Kyverno's JMESPath returns nil for it.</summary>
    private static JmesValue? Present(JmesValue value) => value.IsMissing ? JmesValue.Null : value;

    private static JmesValue Substitute(string entry, string field, JmesFunc template, JmesValue root, JmesContext jmes)
    {
        try
        {
            return template(root, jmes);
        }
        catch (JmesPathException e)
        {
            throw new ContextDataException($"failed to substitute variables in context entry {entry} {field}: {e.Message}", isTransient: false, e);
        }
    }

    private static string Text(string entry, string field, JmesFunc template, JmesValue root, JmesContext jmes) =>
        KyvernoVariables.ToText(Substitute(entry, field, template, root, jmes));
}

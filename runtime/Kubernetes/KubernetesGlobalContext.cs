using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// Kyverno's global context (<c>globalReference</c> in rule contexts): GlobalContextEntry resources
/// (<c>kyverno.io/v2alpha1</c>, cluster-scoped, also read as <c>v2beta1</c>) read through the Kubernetes API, and the data
/// each names. A <c>kubernetesResource</c> entry gives the list of its objects (each with its <c>apiVersion</c> and
/// <c>kind</c>, as Kyverno's dynamic informer keeps them); an <c>apiCall</c> entry gives the JSON answer of its call, made
/// to the API server (<c>urlPath</c>) or to a service (<c>service</c>, through <see cref="IServiceCallSource"/>).
/// The entry's <c>spec.projections</c> are evaluated over that data when it is loaded (<see cref="JmesInterpreter"/>:
/// their <c>jmesPath</c> is cluster data, not policy text, so it cannot be compiled at build time).
/// </summary>
/// <remarks>
/// Kyverno's controller loads each entry in the background and keeps it fresh (an informer for resources, a poll every
/// <c>refreshInterval</c> for calls); a rule sees the last data, or an error while the entry is not ready. There is no
/// controller here: the first review that needs an entry loads it, and the data is kept for the entry's
/// <c>refreshInterval</c> (default 10 minutes, as in Kyverno) or, for resources, <c>Kubernetes:ContextTimeToLive</c>.
/// Concurrent reviews share one load; a failed load is not kept, so the next review tries again.
/// </remarks>
public sealed class KubernetesGlobalContext : IGlobalContextSource
{
    private const int PageSize = 250;
    private const int MaxObjects = 10_000;
    private static readonly TimeSpan DefaultRefreshInterval = TimeSpan.FromMinutes(10);

    private readonly KubernetesApi _api;
    private readonly IServiceCallSource? _services;
    private readonly TimeSpan _timeToLive;
    private readonly TimeProvider _time;
    private readonly ExpiringReadCache<JsonElement> _entries;
    private readonly ConcurrentDictionary<string, Loaded> _data = new(StringComparer.Ordinal);

    public KubernetesGlobalContext(KubernetesApi api, IServiceCallSource? services, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(time);
        _api = api;
        _services = services;
        _timeToLive = timeToLive;
        _time = time;
        _entries = new ExpiringReadCache<JsonElement>(ReadEntryAsync, timeToLive, time);
    }

    /// <inheritdoc/>
    public async ValueTask<JsonElement> GetAsync(string entryName, string? projection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entryName);
        if (entryName.Length == 0)
        {
            // An empty name would read the collection, not an entry.
            throw new ContextDataException("failed to fetch entry key=", isTransient: false);
        }

        JsonElement entry;
        try
        {
            entry = await _entries.GetAsync(entryName, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new ContextDataException(
                e.NotFound ? $"failed to fetch entry key={entryName}" : $"failed to fetch entry key={entryName}: {e.Message}",
                isTransient: !e.NotFound,
                e);
        }

        var spec = entry.TryGetProperty("spec", out var found) && found.ValueKind == JsonValueKind.Object
            ? found
            : throw new ContextDataException($"global context entry {entryName} has no spec", isTransient: false);
        var specText = spec.GetRawText();
        var now = _time.GetUtcNow();
        var loaded = _data.AddOrUpdate(
            entryName,
            _ => Start(spec, specText, now),
            (_, current) => current.Spec != specText || (current.Data.IsCompletedSuccessfully && current.Expires <= now) ? Start(spec, specText, now) : current);
        EntryData data;
        try
        {
            data = await loaded.Data.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ContextDataException e)
        {
            _data.TryRemove(KeyValuePair.Create(entryName, loaded));
            throw new ContextDataException($"global context entry {entryName} is not ready: {e.Message}", e.IsTransient, e);
        }
        catch (KubernetesApiException e)
        {
            _data.TryRemove(KeyValuePair.Create(entryName, loaded));
            throw new ContextDataException($"global context entry {entryName} is not ready: {e.Message}", isTransient: !e.NotFound, e);
        }

        if (projection is null)
        {
            return data.Value;
        }

        if (!data.Projections.TryGetValue(projection, out var projected))
        {
            throw new ContextDataException($"projection \"{projection}\" not found", isTransient: false);
        }

        return projected.Error is { } error
            ? throw new ContextDataException($"failed to apply projection \"{projection}\": {error}", isTransient: false)
            : projected.Value;
    }

    private sealed record Loaded(string Spec, Task<EntryData> Data, DateTimeOffset Expires);

    /// <summary>The entry's data and each of its projections, computed together when the data is loaded.</summary>
    private sealed record EntryData(JsonElement Value, Dictionary<string, Projected> Projections);

    /// <summary>A projection's value, or why it has none.</summary>
    private readonly record struct Projected(JsonElement Value, string? Error);

    /// <summary>One of <c>spec.projections</c>: its name and its expression, parsed before any data is fetched.</summary>
    private sealed record Projection(string Name, JmesFunc Expression);

    private Loaded Start(JsonElement spec, string specText, DateTimeOffset now)
    {
        // The spec is copied: the task outlives the review that started it.
        var own = spec.Clone();
        var hasResource = own.TryGetProperty("kubernetesResource", out var resource) && resource.ValueKind == JsonValueKind.Object;
        var hasCall = own.TryGetProperty("apiCall", out var call) && call.ValueKind == JsonValueKind.Object;
        if (hasResource == hasCall)
        {
            return new Loaded(specText, Task.FromException<EntryData>(new ContextDataException("a global context entry should either have kubernetesResource or apiCall", isTransient: false)), now);
        }

        List<Projection> projections;
        try
        {
            projections = Projections(own);
        }
        catch (ContextDataException e)
        {
            return new Loaded(specText, Task.FromException<EntryData>(e), now);
        }

        return hasResource
            ? new Loaded(specText, Task.Run(async () => Project(await ListResourcesAsync(resource).ConfigureAwait(false), projections, failWhole: false)), now + _timeToLive)
            : new Loaded(specText, Task.Run(async () => Project(await CallAsync(call).ConfigureAwait(false), projections, failWhole: true)), now + RefreshInterval(call));
    }

    /// <summary>
    /// <c>spec.projections</c>, each expression parsed. An entry with a projection Kyverno's admission check refuses
    /// (no name, no expression, or one that does not parse) is not ready, as Kyverno's controller does not load it.
    /// </summary>
    private static List<Projection> Projections(JsonElement spec)
    {
        var projections = new List<Projection>();
        if (!spec.TryGetProperty("projections", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return projections;
        }

        foreach (var item in list.EnumerateArray())
        {
            var name = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : string.Empty;
            var text = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("jmesPath", out var j) && j.ValueKind == JsonValueKind.String ? j.GetString()! : string.Empty;
            if (name.Length == 0 || text.Length == 0)
            {
                throw new ContextDataException("a projection entry requires a name and a jmesPath", isTransient: false);
            }

            try
            {
                projections.Add(new Projection(name, JmesInterpreter.Compile(text)));
            }
            catch (JmesPathException e)
            {
                throw new ContextDataException($"failed to parse jmespath query: {e.Message}", isTransient: false, e);
            }
        }

        return projections;
    }

    /// <summary>
    /// Evaluates every projection over the loaded data. Kyverno differs by source, and so does this: a failing
    /// projection of an <c>apiCall</c> entry fails the whole entry (<paramref name="failWhole"/>), and a projection
    /// that gives null there is "no data available"; for a <c>kubernetesResource</c> entry only the failed projection
    /// is unusable and null is a value.
    /// </summary>
    private static EntryData Project(JsonElement data, List<Projection> projections, bool failWhole)
    {
        var results = new Dictionary<string, Projected>(StringComparer.Ordinal);
        if (projections.Count == 0)
        {
            return new EntryData(data, results);
        }

        var input = JmesValue.FromJson(data);
        foreach (var projection in projections)
        {
            JmesValue value;
            try
            {
                value = projection.Expression(input, JmesContext.Default).WithoutMissing();
            }
            catch (JmesPathException e) when (!failWhole)
            {
                results[projection.Name] = new Projected(default, e.Message);
                continue;
            }
            catch (JmesPathException e)
            {
                throw new ContextDataException($"failed to apply projection \"{projection.Name}\": {e.Message}", isTransient: false, e);
            }

            if (value.IsNull && failWhole)
            {
                results[projection.Name] = new Projected(default, "no data available");
                continue;
            }

            using var document = JsonDocument.Parse(value.ToJsonString());
            results[projection.Name] = new Projected(document.RootElement.Clone(), null);
        }

        return new EntryData(data, results);
    }

    private static TimeSpan RefreshInterval(JsonElement call) =>
        call.TryGetProperty("refreshInterval", out var interval) && interval.ValueKind == JsonValueKind.String
            && GoDuration.TryParse(interval.GetString()!, out var nanoseconds) && nanoseconds > 0
            ? TimeSpan.FromTicks(nanoseconds / 100)
            : DefaultRefreshInterval;

    private async Task<JsonElement> ReadEntryAsync(string name)
    {
        var escaped = Uri.EscapeDataString(name);
        try
        {
            using var document = await _api.GetAsync($"/apis/kyverno.io/v2alpha1/globalcontextentries/{escaped}", $"globalcontextentry {name}").ConfigureAwait(false);
            return document.RootElement.Clone();
        }
        catch (KubernetesApiException e) when (e.NotFound)
        {
            // Newer Kyverno serves the same kind as v2beta1 (and may no longer serve v2alpha1).
            using var document = await _api.GetAsync($"/apis/kyverno.io/v2beta1/globalcontextentries/{escaped}", $"globalcontextentry {name}").ConfigureAwait(false);
            return document.RootElement.Clone();
        }
    }

    private async Task<JsonElement> ListResourcesAsync(JsonElement resource)
    {
        string Field(string name) => resource.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : string.Empty;
        var (group, version, plural, ns) = (Field("group"), Field("version"), Field("resource"), Field("namespace"));
        if (version.Length == 0 || plural.Length == 0)
        {
            throw new ContextDataException("kubernetesResource needs a version and a resource", isTransient: false);
        }

        var groupVersion = group is "" or "core" ? version : group + "/" + version;
        var path = (group is "" or "core" ? "/api/" + Uri.EscapeDataString(version) : $"/apis/{Uri.EscapeDataString(group)}/{Uri.EscapeDataString(version)}")
            + (ns.Length == 0 ? string.Empty : "/namespaces/" + Uri.EscapeDataString(ns))
            + "/" + Uri.EscapeDataString(plural);

        using var output = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartArray();
            var count = 0;
            string? next = null;
            do
            {
                // Pages keep each answer under the client's 1 MiB bound.
                var query = $"?limit={PageSize}" + (next is null ? string.Empty : "&continue=" + Uri.EscapeDataString(next));
                using var document = await _api.GetAsync(path + query, path).ConfigureAwait(false);
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("items", out var items) || items.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
                {
                    throw new ContextDataException($"the API server's list of {path} has no items", isTransient: false);
                }

                var kind = root.TryGetProperty("kind", out var listKind) && listKind.GetString() is { } k && k.EndsWith("List", StringComparison.Ordinal) ? k[..^4] : null;
                if (items.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in items.EnumerateArray())
                    {
                        if (++count > MaxObjects)
                        {
                            throw new ContextDataException($"{path} holds more than {MaxObjects} objects", isTransient: false);
                        }

                        WriteObject(writer, item, groupVersion, kind);
                    }
                }

                next = root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
                    && metadata.TryGetProperty("continue", out var token) && token.ValueKind == JsonValueKind.String && token.GetString() is { Length: > 0 } more
                    ? more
                    : null;
            }
            while (next is not null);

            writer.WriteEndArray();
        }

        using var list = JsonDocument.Parse(output.ToArray());
        return list.RootElement.Clone();
    }

    /// <summary>Items of a list carry no type of their own; Kyverno's informer gives each object its apiVersion and kind.</summary>
    private static void WriteObject(Utf8JsonWriter writer, JsonElement item, string apiVersion, string? kind)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            item.WriteTo(writer);
            return;
        }

        writer.WriteStartObject();
        if (!item.TryGetProperty("apiVersion", out _))
        {
            writer.WriteString("apiVersion", apiVersion);
        }

        if (kind is not null && !item.TryGetProperty("kind", out _))
        {
            writer.WriteString("kind", kind);
        }

        foreach (var property in item.EnumerateObject())
        {
            property.WriteTo(writer);
        }

        writer.WriteEndObject();
    }

    private async Task<JsonElement> CallAsync(JsonElement call)
    {
        var method = call.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "GET";
        if (method is not ("GET" or "POST"))
        {
            throw new ContextDataException($"invalid request type {method}", isTransient: false);
        }

        string? body = null;
        if (method == "POST")
        {
            // Kyverno sends data as one object of key → value, the values being JSON as written in the entry.
            using var json = new MemoryStream();
            await using (var writer = new Utf8JsonWriter(json))
            {
                writer.WriteStartObject();
                if (call.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in data.EnumerateArray())
                    {
                        if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String)
                        {
                            writer.WritePropertyName(key.GetString()!);
                            if (item.TryGetProperty("value", out var value))
                            {
                                value.WriteTo(writer);
                            }
                            else
                            {
                                writer.WriteNullValue();
                            }
                        }
                    }
                }

                writer.WriteEndObject();
            }

            body = Encoding.UTF8.GetString(json.ToArray());
        }

        var urlPath = call.TryGetProperty("urlPath", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        var hasService = call.TryGetProperty("service", out var service) && service.ValueKind == JsonValueKind.Object;
        if (string.IsNullOrEmpty(urlPath) == !hasService)
        {
            throw new ContextDataException("an apiCall should either have service or urlPath", isTransient: false);
        }

        if (!hasService)
        {
            if (!urlPath!.StartsWith("/api/", StringComparison.Ordinal) && !urlPath.StartsWith("/apis/", StringComparison.Ordinal))
            {
                throw new ContextDataException("the urlPath must start with /api/ or /apis/", isTransient: false);
            }

            using var document = await _api.SendAsync(method == "POST" ? HttpMethod.Post : HttpMethod.Get, urlPath, body, urlPath).ConfigureAwait(false);
            return document.RootElement.Clone();
        }

        if (_services is null)
        {
            throw new ContextDataException("no service caller is configured", isTransient: false);
        }

        var url = service.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new ContextDataException($"the service URL \"{url}\" is not an absolute http or https URL", isTransient: false);
        }

        var caBundle = service.TryGetProperty("caBundle", out var ca) && ca.ValueKind == JsonValueKind.String && ca.GetString() is { Length: > 0 } pem ? pem : null;
        var headers = new List<KeyValuePair<string, string>>();
        if (service.TryGetProperty("headers", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var header in list.EnumerateArray())
            {
                if (header.ValueKind == JsonValueKind.Object && header.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String
                    && header.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String)
                {
                    headers.Add(KeyValuePair.Create(key.GetString()!, value.GetString()!));
                }
            }
        }

        return await _services.CallAsync(new ServiceCallRequest(method, uri, caBundle, headers, body), CancellationToken.None).ConfigureAwait(false);
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>Media types the tests write and ask for.</summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string CosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";
}

public static class Digests
{
    /// <summary><c>sha256:</c> and the lowercase hex SHA-256 of <paramref name="content"/>.</summary>
    public static string Sha256(ReadOnlySpan<byte> content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The hex part of a <c>sha256:…</c> digest.</summary>
    public static string Hex(string digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length == 71
            ? digest[7..]
            : throw new ArgumentException($"not a sha256 digest: {digest}", nameof(digest));
    }
}

/// <summary>A manifest as the registry served it, with the digest computed from the bytes received.</summary>
public sealed record FetchedManifest(byte[] Content, string? MediaType, string? DockerContentDigest)
{
    /// <summary>sha256 of <see cref="Content"/>: what the manifest really is, whatever the headers say.</summary>
    public string Digest { get; } = Digests.Sha256(Content);

    public JsonNode Json => JsonNode.Parse(Content) ?? throw new InvalidOperationException("manifest is JSON null");
}

public sealed class DistributionException(string message, HttpStatusCode? statusCode = null) : Exception(message)
{
    public HttpStatusCode? StatusCode { get; } = statusCode;
}

/// <summary>
/// The few calls of the OCI distribution API the tests need, made directly over HTTP: manifests by tag or
/// digest, blob upload (POST then one monolithic PUT), manifest PUT, tag listing.
/// </summary>
public sealed class DistributionClient(HttpClient http, string registryHost) : IDisposable
{
    /// <summary>What the tests accept when they read a manifest: OCI first, Docker v2 as a fallback.</summary>
    public const string ManifestAccept = MediaTypes.OciManifest + ", " + MediaTypes.OciIndex + ", " + MediaTypes.DockerManifest;

    public string RegistryHost { get; } = registryHost;

    public HttpClient Http { get; } = http;

    public async Task<FetchedManifest?> TryGetManifestAsync(string repository, string reference, string accept = ManifestAccept, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, ManifestPath(repository, reference));
        foreach (var mediaType in accept.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
        }

        using var response = await Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureAsync(response, $"GET manifest {repository}:{reference}", cancellationToken).ConfigureAwait(false);
        var content = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var headerDigest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        return new FetchedManifest(content, response.Content.Headers.ContentType?.MediaType, headerDigest);
    }

    public async Task<FetchedManifest> GetManifestAsync(string repository, string reference, string accept = ManifestAccept, CancellationToken cancellationToken = default) =>
        await TryGetManifestAsync(repository, reference, accept, cancellationToken).ConfigureAwait(false)
        ?? throw new DistributionException($"manifest {RegistryHost}/{repository}:{reference} not found", HttpStatusCode.NotFound);

    public async Task<byte[]> GetBlobAsync(string repository, string digest, CancellationToken cancellationToken = default)
    {
        using var response = await Http.GetAsync(new Uri($"v2/{repository}/blobs/{digest}", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, $"GET blob {repository}@{digest}", cancellationToken).ConfigureAwait(false);
        var content = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var actual = Digests.Sha256(content);
        return actual == digest ? content : throw new DistributionException($"blob {repository}@{digest} came back as {actual}");
    }

    /// <summary>Uploads <paramref name="content"/> as one blob (POST to open the upload, one PUT with the digest) and returns its digest.</summary>
    public async Task<string> PushBlobAsync(string repository, byte[] content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var digest = Digests.Sha256(content);
        using (var start = await Http.PostAsync(new Uri($"v2/{repository}/blobs/uploads/", UriKind.Relative), content: null, cancellationToken).ConfigureAwait(false))
        {
            await EnsureAsync(start, $"POST blob upload to {repository}", cancellationToken, expected: HttpStatusCode.Accepted).ConfigureAwait(false);
            var location = start.Headers.Location ?? throw new DistributionException($"POST blob upload to {repository} answered without a Location");
            var uploadUri = location.IsAbsoluteUri ? location : new Uri(Http.BaseAddress!, location);
            var separator = uploadUri.Query.Length > 0 ? "&" : "?";
            var putUri = new Uri(uploadUri.AbsoluteUri + separator + "digest=" + Uri.EscapeDataString(digest));

            using var body = new ByteArrayContent(content);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var put = await Http.PutAsync(putUri, body, cancellationToken).ConfigureAwait(false);
            await EnsureAsync(put, $"PUT blob {digest} to {repository}", cancellationToken, expected: HttpStatusCode.Created).ConfigureAwait(false);
        }

        return digest;
    }

    /// <summary>Stores a manifest under <paramref name="reference"/> (a tag or its digest) and returns its digest as the registry reports it.</summary>
    public async Task<string> PutManifestAsync(string repository, string reference, string mediaType, byte[] content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await Http.PutAsync(ManifestPath(repository, reference), body, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, $"PUT manifest {repository}:{reference}", cancellationToken, expected: HttpStatusCode.Created).ConfigureAwait(false);
        var expected = Digests.Sha256(content);
        var reported = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        return reported is null || reported == expected
            ? expected
            : throw new DistributionException($"PUT manifest {repository}:{reference}: registry reports {reported}, content is {expected}");
    }

    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken cancellationToken = default)
    {
        using var response = await Http.GetAsync(new Uri($"v2/{repository}/tags/list", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        await EnsureAsync(response, $"GET tags of {repository}", cancellationToken).ConfigureAwait(false);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        return json?["tags"] is JsonArray tags ? [.. tags.Select(t => t!.GetValue<string>())] : [];
    }

    public void Dispose() => Http.Dispose();

    private static Uri ManifestPath(string repository, string reference) => new($"v2/{repository}/manifests/{reference}", UriKind.Relative);

    private static async Task EnsureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken, HttpStatusCode? expected = null)
    {
        var ok = expected is { } code ? response.StatusCode == code : response.IsSuccessStatusCode;
        if (ok)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        throw new DistributionException($"{what}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {body}", response.StatusCode);
    }
}

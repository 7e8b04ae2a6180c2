using System.Buffers;
using System.Text.Json;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// The data of a rule's <c>imageRegistry</c> context entry, read from the registry with the runtime's client (bounded
/// reads, every manifest and blob hashed). The object has the members Kyverno's image data loader gives, in the order its
/// JSON encoder writes them (sorted): <c>configData</c> (the config blob), <c>identifier</c> (the tag, the digest, or
/// <c>tag@digest</c>), <c>image</c> (the reference as given), <c>manifest</c>, <c>registry</c>, <c>repository</c> and
/// <c>resolvedImage</c> (<c>registry/repository@digest</c>, the digest of what the reference serves).
/// </summary>
/// <remarks>
/// For an image index, as go-containerregistry's <c>Descriptor.Image()</c> under Kyverno, <c>manifest</c> and
/// <c>configData</c> are those of the first child for linux/amd64 (a child without a platform counts as linux/amd64),
/// while <c>resolvedImage</c> keeps the index digest. Answers are kept for <c>timeToLive</c> per reference and credential
/// scope (a tag can move); failed reads are not kept.
/// </remarks>
public sealed class RegistryImageData : IImageDataSource
{
    /// <summary>go-containerregistry's index.docker.io: what Kyverno's registry and resolvedImage name Docker Hub.</summary>
    private const string DockerHubName = "index.docker.io";

    // An index may name another index; go-containerregistry follows them, and so do we, a few levels deep.
    private const int MaxIndexDepth = 4;

    private readonly RegistryClient _registry;
    private readonly ExpiringReadCache<JsonElement> _cache;

    public RegistryImageData(RegistryClient registry, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _cache = new ExpiringReadCache<JsonElement>(ReadAsync, timeToLive, time);
    }

    public async ValueTask<JsonElement> GetImageDataAsync(string reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);

        // Credentials decide what a private registry answers, so an answer read with one scope is not lent to another.
        var key = (RegistryCredentialScope.Current?.Id ?? string.Empty) + "\n" + reference;
        try
        {
            return await _cache.GetAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e)
        {
            // Kyverno fails the rule for any of these; an unreachable registry is left to failurePolicy here, as the
            // API server's outages are for the other context entries.
            throw new ContextDataException($"failed to fetch image descriptor: {reference}, error: {e.Message}", e.IsTransient, e);
        }
    }

    private async Task<JsonElement> ReadAsync(string key)
    {
        var reference = key[(key.IndexOf('\n', StringComparison.Ordinal) + 1)..];
        if (!ImageReference.TryParse(reference, out var image, out var error))
        {
            throw new ContextDataException($"failed to fetch image descriptor: {reference}, error: failed to parse image reference: {reference}, error: {error}", isTransient: false);
        }

        // The read is shared by the reviews waiting for it, so it is not cancelled with the first of them; the
        // registry client's own timeouts and retries bound it.
        var cancellationToken = CancellationToken.None;
        var top = await _registry.GetManifestAsync(image.Registry, image.Repository, image.Digest ?? image.EffectiveTag!, cancellationToken).ConfigureAwait(false);
        var manifest = top;
        for (var depth = 0; IsIndex(manifest); depth++)
        {
            var child = depth < MaxIndexDepth ? PlatformChild(manifest.Content) : null;
            if (child is null)
            {
                throw new ContextDataException($"failed to fetch image descriptor: {reference}, error: failed to resolve image reference: {reference}, error: no child with platform linux/amd64 in index {manifest.Digest}", isTransient: false);
            }

            manifest = await _registry.GetManifestAsync(image.Registry, image.Repository, child, cancellationToken).ConfigureAwait(false);
        }

        var configDigest = ConfigDigest(manifest.Content)
            ?? throw new ContextDataException($"failed to fetch image descriptor: {reference}, error: the manifest {manifest.Digest} names no config blob", isTransient: false);
        var config = await _registry.GetBlobAsync(image.Registry, image.Repository, configDigest, _registry.Options.MaxManifestBytes, cancellationToken).ConfigureAwait(false);
        if (!IsJson(config))
        {
            throw new ContextDataException($"failed to decode config for image reference: {reference}, error: the config blob {configDigest} is not JSON", isTransient: false);
        }

        var registry = image.Registry == ImageReference.DockerHubRegistry ? DockerHubName : image.Registry;
        var identifier = image.Digest is null ? image.EffectiveTag! : image.Tag is null ? image.Digest : image.Tag + "@" + image.Digest;
        var buffer = new ArrayBufferWriter<byte>(manifest.Content.Length + config.Length + 512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("configData");
            writer.WriteRawValue(config, skipInputValidation: true);
            writer.WriteString("identifier", identifier);
            writer.WriteString("image", reference);
            writer.WritePropertyName("manifest");
            writer.WriteRawValue(manifest.Content, skipInputValidation: true);
            writer.WriteString("registry", registry);
            writer.WriteString("repository", image.Repository);
            writer.WriteString("resolvedImage", registry + "/" + image.Repository + "@" + top.Digest);
            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    private static bool IsIndex(ManifestResponse manifest)
    {
        if (manifest.MediaType is MediaTypes.OciIndex or MediaTypes.DockerManifestList)
        {
            return true;
        }

        // A registry may serve an index without its media type; an index is what lists manifests and has no config.
        try
        {
            using var document = JsonDocument.Parse(manifest.Content);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("manifests", out var manifests) && manifests.ValueKind == JsonValueKind.Array
                && !document.RootElement.TryGetProperty("config", out _);
        }
        catch (JsonException)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"the manifest {manifest.Digest} is not JSON");
        }
    }

    /// <summary>The digest of the first child for linux/amd64 (go-containerregistry's default platform), if any.</summary>
    private static string? PlatformChild(byte[] index)
    {
        using var document = JsonDocument.Parse(index);
        if (!document.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        foreach (var child in manifests.EnumerateArray())
        {
            if (child.ValueKind != JsonValueKind.Object || !child.TryGetProperty("digest", out var digest) || digest.ValueKind != JsonValueKind.String)
            {
                continue;
            }

            var (os, architecture) = ("linux", "amd64");
            if (child.TryGetProperty("platform", out var platform) && platform.ValueKind == JsonValueKind.Object)
            {
                os = platform.TryGetProperty("os", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : string.Empty;
                architecture = platform.TryGetProperty("architecture", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : string.Empty;
            }

            if (os == "linux" && architecture == "amd64")
            {
                return digest.GetString();
            }
        }

        return null;
    }

    private static string? ConfigDigest(byte[] manifest)
    {
        try
        {
            using var document = JsonDocument.Parse(manifest);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("config", out var config) && config.ValueKind == JsonValueKind.Object
                && config.TryGetProperty("digest", out var digest) && digest.ValueKind == JsonValueKind.String
                ? digest.GetString()
                : null;
        }
        catch (JsonException)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, "the manifest is not JSON");
        }
    }

    private static bool IsJson(byte[] content)
    {
        try
        {
            using var document = JsonDocument.Parse(content);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

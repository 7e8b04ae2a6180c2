using System.Text.Json;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>Reads the signatures cosign attached to an image, from the image's repository or a separate one.</summary>
public sealed class CosignSignatureStore(RegistryClient registry)
{
    /// <summary>cosign's tag for the signatures of a digest: <c>sha256:abc…</c> → <c>sha256-abc….sig</c>.</summary>
    public static string SignatureTag(string digest) => digest.Replace(':', '-') + ".sig";

    /// <summary>
    /// Every simple-signing layer of the signature manifest for <paramref name="digest"/>; empty when the image has none.
    /// </summary>
    public async Task<IReadOnlyList<CosignSignature>> GetSignaturesAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken)
    {
        ManifestResponse manifest;
        try
        {
            manifest = await registry.GetManifestAsync(registryHost, repository, SignatureTag(digest), cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (e.Failure == RegistryFailure.NotFound)
        {
            return [];
        }

        OciManifest? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(manifest.Content, RegistryJsonContext.Default.OciManifest);
        }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"signature manifest {repository}:{SignatureTag(digest)} is not valid JSON", inner: e);
        }

        if (parsed?.Layers is not { } layers)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"signature manifest {repository}:{SignatureTag(digest)} has no layers");
        }

        var candidates = layers.Where(l => l.MediaType == SimpleSigningPayload.MediaType).ToList();
        if (candidates.Count > registry.Options.MaxSignatureLayers)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"signature manifest {repository}:{SignatureTag(digest)} has {candidates.Count} signatures, more than the limit of {registry.Options.MaxSignatureLayers}");
        }

        var signatures = new List<CosignSignature>(candidates.Count);
        foreach (var layer in candidates)
        {
            if (layer.Digest is null || layer.Size < 0 || layer.Size > registry.Options.MaxSignatureLayerBytes)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"signature layer {layer.Digest} of {repository} is missing a digest or exceeds {registry.Options.MaxSignatureLayerBytes} bytes");
            }

            var payload = await registry.GetBlobAsync(registryHost, repository, layer.Digest, layer.Size, cancellationToken).ConfigureAwait(false);
            if (payload.LongLength != layer.Size)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"signature layer {layer.Digest} of {repository} is {payload.LongLength} bytes, its descriptor says {layer.Size}");
            }

            signatures.Add(new CosignSignature(payload, layer.Annotations ?? new Dictionary<string, string>()));
        }

        return signatures;
    }
}

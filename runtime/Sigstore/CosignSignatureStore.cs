using System.Text.Json;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>Reads the signatures cosign attached to an image, from the image's repository or a separate one.</summary>
public sealed class CosignSignatureStore(RegistryClient registry)
{
    /// <summary>Largest attestation envelope read: SBOM and vulnerability-report predicates run to megabytes.</summary>
    public const long MaxAttestationLayerBytes = 32 * 1024 * 1024;

    /// <summary>cosign's tag for the signatures of a digest: <c>sha256:abc…</c> → <c>sha256-abc….sig</c>.</summary>
    public static string SignatureTag(string digest) => digest.Replace(':', '-') + ".sig";

    /// <summary>cosign's tag for the attestations of a digest: <c>sha256-abc….att</c>.</summary>
    public static string AttestationTag(string digest) => digest.Replace(':', '-') + ".att";

    /// <summary>
    /// Every simple-signing layer of the signature manifest for <paramref name="digest"/>; empty when the image has none.
    /// </summary>
    public Task<IReadOnlyList<CosignSignature>> GetSignaturesAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken) =>
        GetLayersAsync(registryHost, repository, SignatureTag(digest), SimpleSigningPayload.MediaType, registry.Options.MaxSignatureLayerBytes, cancellationToken);

    /// <summary>The <c>artifactType</c> of cosign's OCI 1.1 signature referrers (its manifest's config media type).</summary>
    public const string SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json";

    /// <summary>
    /// Every simple-signing layer of the signature manifests attached to <paramref name="digest"/> as OCI 1.1
    /// referrers (cosign's <c>--registry-referrers-mode=oci-1-1</c>): the same manifest as at the <c>.sig</c> tag, with
    /// the artifact type as its config media type and the image as its <c>subject</c>. Empty when there are none.
    /// </summary>
    public async Task<IReadOnlyList<CosignSignature>> GetReferrerSignaturesAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken)
    {
        var signatures = new List<CosignSignature>();
        foreach (var (manifestDigest, parsed) in await ReferrerManifests.GetAsync(registry, registryHost, repository, digest, t => t == SignatureArtifactType, "cosign signature referrers", cancellationToken).ConfigureAwait(false))
        {
            signatures.AddRange(await ReadLayersAsync(registryHost, repository, manifestDigest, parsed, SimpleSigningPayload.MediaType, registry.Options.MaxSignatureLayerBytes, registry.Options.MaxSignatureLayers - signatures.Count, cancellationToken).ConfigureAwait(false));
        }

        return signatures;
    }

    /// <summary>
    /// Every DSSE envelope layer of the attestation manifest for <paramref name="digest"/> (the layer's bytes are the
    /// envelope); empty when the image has none.
    /// </summary>
    public Task<IReadOnlyList<CosignSignature>> GetAttestationsAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken) =>
        GetLayersAsync(registryHost, repository, AttestationTag(digest), DsseEnvelope.MediaType, MaxAttestationLayerBytes, cancellationToken);

    private async Task<IReadOnlyList<CosignSignature>> GetLayersAsync(string registryHost, string repository, string tag, string mediaType, long maxLayerBytes, CancellationToken cancellationToken)
    {
        var parsed = await ReadManifestAsync(registryHost, repository, tag, cancellationToken).ConfigureAwait(false);
        return parsed is null ? [] : await ReadLayersAsync(registryHost, repository, tag, parsed, mediaType, maxLayerBytes, registry.Options.MaxSignatureLayers, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The attachment manifest at <paramref name="reference"/>, or null when the registry has none.</summary>
    private async Task<OciManifest?> ReadManifestAsync(string registryHost, string repository, string reference, CancellationToken cancellationToken)
    {
        ManifestResponse manifest;
        try
        {
            manifest = await registry.GetManifestAsync(registryHost, repository, reference, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (e.Failure == RegistryFailure.NotFound)
        {
            return null;
        }

        OciManifest? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(manifest.Content, RegistryJsonContext.Default.OciManifest);
        }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"attachment manifest {repository}:{reference} is not valid JSON", inner: e);
        }

        return parsed ?? throw new RegistryException(RegistryFailure.InvalidResponse, $"attachment manifest {repository}:{reference} is not valid JSON");
    }

    private async Task<IReadOnlyList<CosignSignature>> ReadLayersAsync(string registryHost, string repository, string reference, OciManifest parsed, string mediaType, long maxLayerBytes, int maxLayers, CancellationToken cancellationToken)
    {
        if (parsed.Layers is not { } layers)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"attachment manifest {repository}:{reference} has no layers");
        }

        var candidates = layers.Where(l => l.MediaType == mediaType).ToList();
        if (candidates.Count > maxLayers)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"attachment manifest {repository}:{reference} has {candidates.Count} layers of {mediaType}, more than the limit of {registry.Options.MaxSignatureLayers}");
        }

        var signatures = new List<CosignSignature>(candidates.Count);
        foreach (var layer in candidates)
        {
            if (layer.Digest is null || layer.Size < 0 || layer.Size > maxLayerBytes)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"layer {layer.Digest} of {repository}:{reference} is missing a digest or exceeds {maxLayerBytes} bytes");
            }

            var payload = await registry.GetBlobAsync(registryHost, repository, layer.Digest, layer.Size, cancellationToken).ConfigureAwait(false);
            if (payload.LongLength != layer.Size)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"layer {layer.Digest} of {repository}:{reference} is {payload.LongLength} bytes, its descriptor says {layer.Size}");
            }

            signatures.Add(new CosignSignature(payload, layer.Annotations ?? new Dictionary<string, string>()));
        }

        return signatures;
    }
}

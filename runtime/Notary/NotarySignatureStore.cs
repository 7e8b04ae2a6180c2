using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Notary;

/// <summary>
/// Reads the Notation signatures attached to an image: OCI 1.1 referrers of artifact type
/// <c>application/vnd.cncf.notary.signature</c>, each a manifest with exactly one layer, the signature envelope.
/// </summary>
public sealed class NotarySignatureStore(RegistryClient registry)
{
    /// <summary>The image's manifest as a descriptor (media type, digest, size): what a signature's payload must name.</summary>
    public async Task<NotaryArtifact> GetArtifactAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken)
    {
        var manifest = await registry.GetManifestAsync(registryHost, repository, digest, cancellationToken).ConfigureAwait(false);
        return new NotaryArtifact(manifest.MediaType, manifest.Digest, manifest.Content.LongLength);
    }

    public async Task<IReadOnlyList<NotarySignature>> GetSignaturesAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken)
    {
        var manifests = await ReferrerManifests.GetAsync(registry, registryHost, repository, digest, t => t == NotaryVerifier.SignatureArtifactType, "Notation signatures", cancellationToken).ConfigureAwait(false);
        var signatures = new List<NotarySignature>(manifests.Count);
        foreach (var (manifestDigest, manifest) in manifests)
        {
            // Notation reads a signature manifest with any other number of layers as an error, not a signature.
            if (manifest.Layers is not [var layer])
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"Notation signature {manifestDigest} of {repository} has {manifest.Layers?.Count ?? 0} layers; a signature manifest has exactly one, the envelope");
            }

            if (layer.Digest is null || layer.MediaType is null || layer.Size < 0 || layer.Size > registry.Options.MaxSignatureLayerBytes)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"the envelope of Notation signature {manifestDigest} of {repository} has no media type or digest, or exceeds {registry.Options.MaxSignatureLayerBytes} bytes");
            }

            var envelope = await registry.GetBlobAsync(registryHost, repository, layer.Digest, layer.Size, cancellationToken).ConfigureAwait(false);
            signatures.Add(new NotarySignature(layer.MediaType, envelope, manifestDigest));
        }

        return signatures;
    }
}

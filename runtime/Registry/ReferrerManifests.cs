using System.Text.Json;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>A manifest attached to an image as an OCI 1.1 referrer, read by digest and checked to name the image.</summary>
public sealed record ReferrerManifest(string Digest, OciManifest Manifest);

/// <summary>
/// The one way the runtime reads OCI 1.1 referrers (cosign's <c>oci-1-1</c> signatures, Sigstore bundles, Notation
/// signatures): the listing (referrers API, or the referrers tag schema where the registry lacks it), filtered by
/// artifact type and bounded in count, then each manifest by digest (hashed and compared by the client). A listed
/// manifest is kept only when it names the image as its <c>subject</c> and has the artifact type the listing claimed:
/// the listing may be stale or forged, the manifest is what was signed into the registry.
/// </summary>
public static class ReferrerManifests
{
    /// <param name="isArtifactType">Which artifact types to read; applied to the listing and to each manifest.</param>
    /// <param name="what">What the referrers are, for the error when there are too many (<c>Notation signatures</c>).</param>
    public static async Task<IReadOnlyList<ReferrerManifest>> GetAsync(
        RegistryClient registry,
        string registryHost,
        string repository,
        string digest,
        Func<string?, bool> isArtifactType,
        string what,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(isArtifactType);
        var listed = (await registry.GetReferrersAsync(registryHost, repository, digest, cancellationToken).ConfigureAwait(false))
            .Where(r => isArtifactType(r.ArtifactType) && r.Digest is not null)
            .ToList();
        if (listed.Count > registry.Options.MaxSignatureLayers)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"{repository}@{digest} has {listed.Count} {what} attached, more than the limit of {registry.Options.MaxSignatureLayers}");
        }

        var manifests = new List<ReferrerManifest>(listed.Count);
        foreach (var referrer in listed)
        {
            var manifest = await registry.GetManifestAsync(registryHost, repository, referrer.Digest!, cancellationToken).ConfigureAwait(false);
            OciManifest? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize(manifest.Content, RegistryJsonContext.Default.OciManifest);
            }
            catch (JsonException e)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"referrer {referrer.Digest} of {repository} is not a valid OCI manifest", inner: e);
            }

            if (parsed is null || parsed.Subject?.Digest != digest || !isArtifactType(parsed.ArtifactType ?? parsed.Config?.MediaType))
            {
                continue;
            }

            manifests.Add(new ReferrerManifest(manifest.Digest, parsed));
        }

        return manifests;
    }
}

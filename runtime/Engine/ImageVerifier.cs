using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Verifies one image against one <c>verifyImages</c> entry: resolve the tag to a digest once, fetch the signatures
/// for that digest, and count the attestors that accept them.
/// </summary>
public sealed class ImageVerifier(RegistryClient registry, VerificationCache cache)
{
    private readonly CosignSignatureStore _signatures = new(registry);

    public VerificationCache Cache => cache;

    /// <summary>Resolves the digest the image's tag points to now; a digest reference resolves to itself without a registry call.</summary>
    public async Task<string> ResolveDigestAsync(ImageReference image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Digest is not null)
        {
            return image.Digest;
        }

        var manifest = await registry.GetManifestAsync(image.Registry, image.Repository, image.EffectiveTag!, cancellationToken).ConfigureAwait(false);
        return manifest.Digest;
    }

    public async Task<ImageVerificationResult> VerifyAsync(
        PolicyDefinition policy,
        RuleDefinition rule,
        ImageVerificationDefinition entry,
        ImageReference image,
        string digest,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(image);
        if (entry.Attestors.IsDefaultOrEmpty)
        {
            return ImageVerificationResult.Pass($"no attestors to verify for {image.FullyQualified}", digest);
        }

        var key = string.Join('\n', policy.Namespace ?? string.Empty, policy.Name, rule.Name, entry.Path, image.Name, digest);
        return await cache.GetOrVerifyAsync(key, useCache: true, () => VerifyUncachedAsync(entry, image, digest, cancellationToken)).ConfigureAwait(false);
    }

    private async Task<ImageVerificationResult> VerifyUncachedAsync(ImageVerificationDefinition entry, ImageReference image, string digest, CancellationToken cancellationToken)
    {
        var (signatureRegistry, signatureRepository) = SignatureLocation(entry, image);
        IReadOnlyList<CosignSignature> signatures;
        try
        {
            signatures = await _signatures.GetSignaturesAsync(signatureRegistry, signatureRepository, digest, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException e) when (!e.IsTransient)
        {
            return ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: {e.Message}", digest);
        }

        var failures = new List<string>();
        foreach (var set in entry.Attestors)
        {
            var verified = 0;
            var setFailures = new List<string>();
            foreach (var attestor in set.Entries)
            {
                var check = attestor switch
                {
                    PublicKeyAttestorDefinition keyAttestor => CosignKeyVerifier.Verify(signatures, digest, keyAttestor.Key),
                    _ => SignatureCheck.Fail($"attestor type {attestor.GetType().Name} is not supported"),
                };
                if (check.Verified)
                {
                    verified++;
                    if (verified >= set.RequiredCount)
                    {
                        break;
                    }
                }
                else
                {
                    setFailures.Add($"{attestor.Path}: {check.Reason}");
                }
            }

            if (verified < set.RequiredCount)
            {
                failures.AddRange(setFailures);
            }
        }

        return failures.Count == 0
            ? ImageVerificationResult.Pass($"verified image signatures for {image.FullyQualified}", digest)
            : ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: {string.Join("; ", failures)}", digest);
    }

    private static (string Registry, string Repository) SignatureLocation(ImageVerificationDefinition entry, ImageReference image)
    {
        if (entry.Repository is { Length: > 0 } repository && ImageReference.TryParse(repository, out var parsed, out _))
        {
            return (parsed.Registry, parsed.Repository);
        }

        return (image.Registry, image.Repository);
    }
}

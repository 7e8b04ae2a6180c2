using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>A Sigstore bundle attached to an image as an OCI 1.1 referrer, with the predicate type its manifest announces.</summary>
public sealed record ReferrerBundle(byte[] Bundle, string? AnnouncedPredicateType, string ManifestDigest);

/// <summary>
/// Reads the Sigstore bundles cosign v3 attaches to an image (<c>artifactType</c>
/// <c>application/vnd.dev.sigstore.bundle.v0.3+json</c>): referrer listing, then each referrer manifest by digest,
/// whose <c>subject</c> must be the image, then its bundle layer — every read bounded and digest-checked.
/// </summary>
public sealed class BundleReferrers(RegistryClient registry)
{
    public const string CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1";
    public const string PredicateTypeAnnotation = "dev.sigstore.bundle.predicateType";
    private const string BundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle";
    private const long MaxBundleBytes = 8 * 1024 * 1024;

    public async Task<IReadOnlyList<ReferrerBundle>> GetBundlesAsync(string registryHost, string repository, string digest, CancellationToken cancellationToken)
    {
        var manifests = await ReferrerManifests.GetAsync(
            registry, registryHost, repository, digest, t => t?.StartsWith(BundleMediaTypePrefix, StringComparison.Ordinal) == true, "Sigstore bundles", cancellationToken).ConfigureAwait(false);
        var bundles = new List<ReferrerBundle>(manifests.Count);
        foreach (var (manifestDigest, parsed) in manifests)
        {
            var layer = parsed.Layers?.FirstOrDefault(l => l.MediaType?.StartsWith(BundleMediaTypePrefix, StringComparison.Ordinal) == true);
            if (layer?.Digest is null || layer.Size < 0 || layer.Size > MaxBundleBytes)
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"referrer {manifestDigest} of {repository} has no bundle layer of at most {MaxBundleBytes} bytes");
            }

            var bundle = await registry.GetBlobAsync(registryHost, repository, layer.Digest, layer.Size, cancellationToken).ConfigureAwait(false);
            bundles.Add(new ReferrerBundle(bundle, parsed.Annotations?.GetValueOrDefault(PredicateTypeAnnotation), manifestDigest));
        }

        return bundles;
    }

    /// <summary>
    /// A cosign v3 image signature: a bundle that verifies for the signer and carries the in-toto statement of type
    /// <see cref="CosignSignPredicateType"/> about the image's digest.
    /// </summary>
    public static SignatureCheck VerifySignature(IReadOnlyList<ReferrerBundle> bundles, string digest, SignerPolicy signer, SignatureRequirements requirements, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        ArgumentNullException.ThrowIfNull(requirements);
        if (bundles.Count == 0)
        {
            return SignatureCheck.Fail(CosignKeyVerifier.SignatureNotFound);
        }

        if (requirements.Annotations is { Count: > 0 })
        {
            return SignatureCheck.Fail("annotations mismatch: Sigstore bundle signatures carry no signer annotations to compare");
        }

        string? reason = null;
        foreach (var bundle in bundles)
        {
            var check = Verify(bundle, digest, signer, requirements, time);
            if (check.Verified && check.Statement?.PredicateType == CosignSignPredicateType)
            {
                return SignatureCheck.Pass;
            }

            reason ??= check.Verified ? $"the bundle is an attestation of type {check.Statement?.PredicateType}, not a signature" : check.Reason;
        }

        return SignatureCheck.Fail(reason ?? CosignKeyVerifier.SignatureNotFound);
    }

    /// <summary>The verified statements of <paramref name="predicateType"/> among the image's bundles.</summary>
    public static AttestationCheck VerifyAttestations(IReadOnlyList<ReferrerBundle> bundles, string digest, string predicateType, SignerPolicy signer, SignatureRequirements requirements, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        var statements = new List<InTotoStatement>();
        string? reason = null;
        foreach (var bundle in bundles)
        {
            var check = Verify(bundle, digest, signer, requirements, time);
            if (check.Verified && check.Statement is { } statement)
            {
                if (statement.PredicateType == predicateType)
                {
                    statements.Add(statement);
                }
            }
            else
            {
                reason ??= check.Reason;
            }
        }

        return statements.Count > 0
            ? new AttestationCheck(true, "verified", statements)
            : AttestationCheck.Fail(bundles.Count == 0 ? "no attestations found" : reason ?? $"attestations not found for predicate type {predicateType}");
    }

    private static SigstoreBundleCheck Verify(ReferrerBundle bundle, string digest, SignerPolicy signer, SignatureRequirements requirements, TimeProvider time)
    {
        var root = requirements.Tlog switch
        {
            { IgnoreTlog: true } => SigstoreTrust.Root,
            var tlog when ReferenceEquals(tlog, TransparencyLogPolicy.TrustedRootLogs) => SigstoreTrust.Root,
            var tlog => SigstoreTrust.Root.WithTransparencyLogs(tlog.Logs),
        };
        var options = requirements.Tlog.IgnoreTlog ? new SigstoreBundleOptions { TransparencyLogThreshold = 0 } : SigstoreBundleOptions.Default;
        return SigstoreBundleVerifier.Verify(bundle.Bundle, BundleArtifact.FromDigest(digest), signer, root, time, options);
    }
}

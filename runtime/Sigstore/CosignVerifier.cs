namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>What an attestor demands of a signature besides a trusted signer.</summary>
public sealed class SignatureRequirements
{
    public static SignatureRequirements None { get; } = new();

    /// <summary>Key/value pairs that must all be in the payload's <c>optional</c> map (cosign <c>-a key=value</c>).</summary>
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    public TransparencyLogPolicy Tlog { get; init; } = TransparencyLogPolicy.Ignore;

    /// <summary>
    /// The timestamp authorities whose RFC 3161 tokens a signature may carry (<c>ctlog.tsaCertChain</c>); null for the
    /// trusted root's authorities.
    /// </summary>
    public IReadOnlyList<CertificateAuthority>? TimestampAuthorities { get; init; }

    /// <summary>
    /// These requirements with the transparency log or the timestamp authorities replaced (when given): how an attestor
    /// whose <c>rekor</c> or <c>ctlog.tsaCertChain</c> has variables gets the values substituted for one review.
    /// </summary>
    public SignatureRequirements With(TransparencyLogPolicy? tlog = null, IReadOnlyList<CertificateAuthority>? timestampAuthorities = null) => new()
    {
        Annotations = Annotations,
        Tlog = tlog ?? Tlog,
        TimestampAuthorities = timestampAuthorities ?? TimestampAuthorities,
    };
}

/// <summary>
/// The verification of cosign signatures, as <c>cosign verify</c> performs it: a signature counts when it verifies
/// under a trusted signer's key, its payload claims exactly the admitted digest, its annotations match, its Rekor
/// bundle (when required) proves it was logged, and the signer's certificate was acceptable at that time.
/// </summary>
public static class CosignVerifier
{
    public static SignatureCheck Verify(
        IReadOnlyList<CosignSignature> signatures,
        string digest,
        SignerPolicy signer,
        SignatureRequirements requirements,
        TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(signatures);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(requirements);
        ArgumentNullException.ThrowIfNull(time);
        if (signatures.Count == 0)
        {
            return SignatureCheck.Fail(CosignKeyVerifier.SignatureNotFound);
        }

        // The most telling reason wins: a signature that verified and then failed a later check explains more
        // than one that did not verify at all.
        string? cryptoDetail = null;
        string? laterFailure = null;
        foreach (var signature in signatures)
        {
            var bytes = signature.SignatureBytes;
            if (bytes is null)
            {
                continue;
            }

            var identity = signer.Resolve(signature, out var resolveError);
            if (identity is null)
            {
                cryptoDetail ??= resolveError;
                continue;
            }

            if (!identity.Key.Verify(signature.Payload, bytes))
            {
                continue;
            }

            if (!SimpleSigningPayload.TryParse(signature.Payload, out var payload, out var error))
            {
                cryptoDetail = error;
                continue;
            }

            if (!string.Equals(payload.Type, SimpleSigningPayload.CosignSignatureType, StringComparison.Ordinal))
            {
                cryptoDetail = $"signed payload has type '{payload.Type}', not '{SimpleSigningPayload.CosignSignatureType}'";
                continue;
            }

            if (!string.Equals(payload.ManifestDigest, digest, StringComparison.Ordinal))
            {
                cryptoDetail = $"signed payload names digest {payload.ManifestDigest}, not {digest}";
                continue;
            }

            if (AnnotationMismatch(payload, requirements.Annotations) is { } mismatch)
            {
                laterFailure = "annotations mismatch: " + mismatch;
                continue;
            }

            if (CosignTimestamp.Verify(signature, bytes, requirements, out var stampedAt) is { } timestampError)
            {
                laterFailure = timestampError;
                continue;
            }

            DateTimeOffset? loggedAt = null;
            if (!requirements.Tlog.IgnoreTlog)
            {
                if (!signature.Annotations.TryGetValue(CosignSignature.BundleAnnotation, out var bundleJson) || string.IsNullOrWhiteSpace(bundleJson))
                {
                    laterFailure = "no transparency log entry: the signature has no Rekor bundle (sign with a transparency log, or set rekor.ignoreTlog: true)";
                    continue;
                }

                if (!RekorBundle.TryParse(bundleJson, out var bundle, out var bundleError))
                {
                    laterFailure = "transparency log: " + bundleError;
                    continue;
                }

                var logged = bundle.Verify(signature.Payload, bytes, identity.SignerDer, requirements.Tlog.Logs);
                if (!logged.Verified)
                {
                    laterFailure = "transparency log: " + logged.Reason;
                    continue;
                }

                loggedAt = logged.IntegratedTime;
            }

            if (SignedTimes.CheckCertificate(signer, identity, stampedAt, loggedAt, time) is { } certificateError)
            {
                laterFailure = "certificate: " + certificateError;
                continue;
            }

            return SignatureCheck.Pass;
        }

        return SignatureCheck.Fail(laterFailure ?? (cryptoDetail is null ? CosignKeyVerifier.InvalidSignature : CosignKeyVerifier.InvalidSignature + ": " + cryptoDetail));
    }

    private static string? AnnotationMismatch(SimpleSigningPayload payload, IReadOnlyDictionary<string, string>? required)
    {
        if (required is null || required.Count == 0)
        {
            return null;
        }

        foreach (var (key, expected) in required)
        {
            if (payload.Optional.ValueKind != System.Text.Json.JsonValueKind.Object
                || !payload.Optional.TryGetProperty(key, out var actual)
                || actual.ValueKind != System.Text.Json.JsonValueKind.String
                || !string.Equals(actual.GetString(), expected, StringComparison.Ordinal))
            {
                return $"annotation {key} is not '{expected}'";
            }
        }

        return null;
    }
}

/// <summary>When a signature was made, as far as it can be proven, for judging the signer's certificate.</summary>
internal static class SignedTimes
{
    /// <summary>
    /// As cosign does: the certificate must have been valid at every proven time (the timestamp authority's and the
    /// transparency log's); with neither, it must be valid now.
    /// </summary>
    public static string? CheckCertificate(SignerPolicy signer, SignerIdentity identity, DateTimeOffset? stampedAt, DateTimeOffset? loggedAt, TimeProvider time)
    {
        if (stampedAt is null && loggedAt is null)
        {
            return signer.CheckCertificate(identity, time.GetUtcNow());
        }

        if (stampedAt is { } stamped && signer.CheckCertificate(identity, stamped) is { } atTimestamp)
        {
            return atTimestamp + " (at the RFC 3161 timestamp)";
        }

        return loggedAt is { } logged ? signer.CheckCertificate(identity, logged) : null;
    }
}

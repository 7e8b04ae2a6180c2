namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// The statements an attestor vouches for, or why it vouches for none; <paramref name="MayChange"/> as for
/// <see cref="SignatureCheck"/>.
/// </summary>
public sealed record AttestationCheck(bool Verified, string Reason, IReadOnlyList<InTotoStatement> Statements, bool MayChange = false)
{
    public static AttestationCheck Fail(string reason, bool mayChange = false) => new(false, reason, [], mayChange);
}

/// <summary>
/// Verifies cosign attestations (<c>cosign attest</c>): DSSE envelopes whose signature over the pre-authentication
/// encoding verifies under a trusted signer, carrying in-toto statements about exactly the admitted digest, logged in
/// the transparency log when required, with the signer's certificate acceptable at that time.
/// </summary>
public static class CosignAttestationVerifier
{
    public static AttestationCheck Verify(
        IReadOnlyList<CosignSignature> layers,
        string digest,
        string predicateType,
        SignerPolicy signer,
        SignatureRequirements requirements,
        TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(requirements);
        ArgumentNullException.ThrowIfNull(time);
        if (layers.Count == 0)
        {
            return AttestationCheck.Fail("no attestations found");
        }

        var statements = new List<InTotoStatement>();
        string? failure = null;
        foreach (var layer in layers)
        {
            var reason = VerifyLayer(layer, digest, signer, requirements, time, out var statement);
            if (statement is not null)
            {
                statements.Add(statement);
            }
            else
            {
                failure ??= reason;
            }
        }

        var matching = statements.Where(s => string.Equals(s.PredicateType, predicateType, StringComparison.Ordinal)).ToList();
        if (matching.Count > 0)
        {
            return new AttestationCheck(true, "verified", matching);
        }

        return AttestationCheck.Fail(statements.Count > 0 || failure is null
            ? $"attestations not found for predicate type {predicateType}"
            : failure);
    }

    private static string? VerifyLayer(CosignSignature layer, string digest, SignerPolicy signer, SignatureRequirements requirements, TimeProvider time, out InTotoStatement? statement)
    {
        statement = null;
        if (!DsseEnvelope.TryParse(layer.Payload, out var envelope, out var envelopeError))
        {
            return "invalid attestation: " + envelopeError;
        }

        if (envelope.PayloadType != DsseEnvelope.InTotoPayloadType)
        {
            return $"invalid attestation: DSSE payload type '{envelope.PayloadType}' is not {DsseEnvelope.InTotoPayloadType}";
        }

        var identity = signer.Resolve(layer, out var resolveError);
        if (identity is null)
        {
            return "invalid signature: " + resolveError;
        }

        var pae = DsseEnvelope.PreAuthenticationEncoding(envelope.PayloadType, envelope.Payload);
        var signature = envelope.Signatures.FirstOrDefault(s => identity.Key.Verify(pae, s));
        if (signature is null)
        {
            return CosignKeyVerifier.InvalidSignature;
        }

        if (!InTotoStatement.TryParse(envelope.Payload, out var parsed, out var statementError))
        {
            return "invalid attestation: " + statementError;
        }

        if (!parsed.IsAbout(digest))
        {
            return $"invalid attestation: the statement's subject does not name {digest}";
        }

        // cosign timestamps an attestation's envelope, the layer's bytes, as it has no detached signature.
        if (CosignTimestamp.Verify(layer, layer.Payload, requirements, out var stampedAt) is { } timestampError)
        {
            return timestampError;
        }

        DateTimeOffset? loggedAt = null;
        if (!requirements.Tlog.IgnoreTlog)
        {
            if (!layer.Annotations.TryGetValue(CosignSignature.BundleAnnotation, out var bundleJson) || string.IsNullOrWhiteSpace(bundleJson))
            {
                return "no transparency log entry: the attestation has no Rekor bundle (attest with a transparency log, or set rekor.ignoreTlog: true)";
            }

            if (!RekorBundle.TryParse(bundleJson, out var bundle, out var bundleError))
            {
                return "transparency log: " + bundleError;
            }

            var logged = bundle.Verify(envelope.Payload, signature, identity.SignerDer, requirements.Tlog.Logs);
            if (!logged.Verified)
            {
                return "transparency log: " + logged.Reason;
            }

            loggedAt = logged.IntegratedTime;
        }

        if (SignedTimes.CheckCertificate(signer, identity, stampedAt, loggedAt, time) is { } certificateError)
        {
            return "certificate: " + certificateError;
        }

        statement = parsed;
        return null;
    }
}

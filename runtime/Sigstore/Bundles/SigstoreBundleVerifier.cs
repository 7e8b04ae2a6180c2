using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>Where a verified signing time comes from.</summary>
public enum TimestampSource
{
    /// <summary>The integrated time of a transparency log entry whose SignedEntryTimestamp verified.</summary>
    TransparencyLog,

    /// <summary>The generation time of an RFC 3161 timestamp from a trusted timestamp authority.</summary>
    TimestampAuthority,

    /// <summary>The verifier's clock: no log or timestamp was required and none was present.</summary>
    CurrentTime,
}

/// <summary>A time at which the signature provably existed, and who vouches for it.</summary>
public sealed record VerifiedTimestamp(DateTimeOffset Time, TimestampSource Source, string Uri);

/// <summary>
/// The outcome of verifying one Sigstore bundle: verified or not with the reason, and when verified the signing
/// time (the earliest verified timestamp), the in-toto statement of a DSSE bundle and the signing certificate.
/// </summary>
public sealed record SigstoreBundleCheck(
    bool Verified,
    string Reason,
    DateTimeOffset? SigningTime,
    InTotoStatement? Statement,
    X509Certificate2? Certificate,
    IReadOnlyList<VerifiedTimestamp> Timestamps)
{
    public static SigstoreBundleCheck Fail(string reason) => new(false, reason, null, null, null, []);
}

/// <summary>How much proof a bundle must carry besides a valid signature.</summary>
public sealed class SigstoreBundleOptions
{
    public static SigstoreBundleOptions Default { get; } = new();

    /// <summary>
    /// Entries from trusted transparency logs that must verify (1, as sigstore-go and cosign require). 0 is Kyverno's
    /// <c>rekor.ignoreTlog: true</c>: entries that are present are still verified, none is required.
    /// </summary>
    public int TransparencyLogThreshold { get; init; } = 1;

    /// <summary>RFC 3161 timestamps from trusted timestamp authorities that must verify (0 by default).</summary>
    public int TimestampThreshold { get; init; }

    /// <summary>How far a log's integrated time may lie ahead of the verifier's clock.</summary>
    public TimeSpan MaxClockSkew { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Verifies Sigstore bundles (<c>application/vnd.dev.sigstore.bundle…</c> v0.1–v0.3) offline, as sigstore-go and
/// sigstore-js do: the signature (message signature over the artifact, or DSSE envelope whose in-toto statement names
/// the artifact) verifies under the signer's key; each entry of a trusted transparency log describes exactly this
/// signature and signer and is proven by its SignedEntryTimestamp and/or its Merkle inclusion proof with a signed
/// checkpoint; RFC 3161 timestamps come from trusted timestamp authorities; the signing time is proven by a verified
/// integrated time or timestamp; and at every proven time the certificate chains to a trusted CA, carries a valid SCT
/// and names the expected identity (or, for a managed key, the expected key signed). Results are values.
/// </summary>
public static class SigstoreBundleVerifier
{
    /// <summary>Parses and verifies <paramref name="bundleJson"/>; see <see cref="Verify(SigstoreBundle, BundleArtifact, SignerPolicy, TrustedRoot, TimeProvider, SigstoreBundleOptions?)"/>.</summary>
    public static SigstoreBundleCheck Verify(
        ReadOnlySpan<byte> bundleJson,
        BundleArtifact artifact,
        SignerPolicy signer,
        TrustedRoot trustedRoot,
        TimeProvider time,
        SigstoreBundleOptions? options = null)
    {
        return SigstoreBundle.TryParse(bundleJson, out var bundle, out var error)
            ? Verify(bundle, artifact, signer, trustedRoot, time, options)
            : SigstoreBundleCheck.Fail("invalid bundle: " + error);
    }

    /// <summary>
    /// Verifies a parsed bundle. <paramref name="signer"/> is what the policy expects: a <see cref="KeylessSigner"/>
    /// (identity; its CAs and CT logs default to <paramref name="trustedRoot"/>'s), a <see cref="StaticKeySigner"/>
    /// (managed key) or a <see cref="CertificateSigner"/>. <paramref name="trustedRoot"/> supplies the transparency logs
    /// and timestamp authorities.
    /// </summary>
    public static SigstoreBundleCheck Verify(
        SigstoreBundle bundle,
        BundleArtifact artifact,
        SignerPolicy signer,
        TrustedRoot trustedRoot,
        TimeProvider time,
        SigstoreBundleOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(trustedRoot);
        ArgumentNullException.ThrowIfNull(time);
        options ??= SigstoreBundleOptions.Default;

        // 1. The signer: the policy names the key (managed key) or accepts the bundle's certificate (keyless).
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        if (bundle.Certificate is not null)
        {
            annotations[CosignSignature.CertificateAnnotation] = bundle.Certificate.ExportCertificatePem();
        }
        else if (signer is KeylessSigner)
        {
            return SigstoreBundleCheck.Fail("invalid signature: the bundle was signed with a key, not a certificate, so it names no identity");
        }

        var identity = signer.Resolve(new CosignSignature([], annotations), out var resolveError);
        if (identity is null)
        {
            return SigstoreBundleCheck.Fail("invalid signature: " + resolveError);
        }

        var signerDer = bundle.Certificate?.RawData ?? identity.Key.SubjectPublicKeyInfo.ToArray();

        // 2. The signature over the content, and what the log entries must describe.
        var signature = bundle.Signature;
        InTotoStatement? statement = null;
        RekorBundle.LoggedSignature logged;
        if (bundle.MessageSignature is { } message)
        {
            var digest = artifact.DigestWith(message.DigestAlgorithm);
            if (digest is null)
            {
                return SigstoreBundleCheck.Fail($"invalid signature: the bundle signs a {message.DigestAlgorithm.Name} digest, and the artifact is only known as {artifact.Digest}");
            }

            if (message.Digest.Length > 0 && !message.Digest.AsSpan().SequenceEqual(digest))
            {
                return SigstoreBundleCheck.Fail("invalid signature: the bundle's message digest is not the artifact's digest");
            }

            var key = identity.Key.Hash == message.DigestAlgorithm || identity.Key.Algorithm == KeyAlgorithm.Ed25519
                ? identity.Key
                : VerificationKey.FromSubjectPublicKeyInfo(identity.Key.SubjectPublicKeyInfo.ToArray(), message.DigestAlgorithm);
            var verified = artifact.Content is { } content ? key.Verify(content.Span, signature) : key.VerifyDigest(digest, signature);
            if (!verified)
            {
                return SigstoreBundleCheck.Fail(key.Algorithm == KeyAlgorithm.Ed25519 && artifact.Content is null
                    ? CosignKeyVerifier.InvalidSignature + ": an Ed25519 signature can only be checked against the artifact's bytes"
                    : CosignKeyVerifier.InvalidSignature);
            }

            logged = new RekorBundle.LoggedSignature(artifact.DigestWith(HashAlgorithmName.SHA256) ?? digest, null, signature, signerDer);
        }
        else
        {
            var envelope = bundle.Envelope!;
            var pae = DsseEnvelope.PreAuthenticationEncoding(envelope.PayloadType, envelope.Payload);
            if (!identity.Key.Verify(pae, signature))
            {
                return SigstoreBundleCheck.Fail(CosignKeyVerifier.InvalidSignature);
            }

            if (envelope.PayloadType != DsseEnvelope.InTotoPayloadType)
            {
                return SigstoreBundleCheck.Fail($"invalid attestation: DSSE payload type '{envelope.PayloadType}' is not {DsseEnvelope.InTotoPayloadType}");
            }

            if (!InTotoStatement.TryParse(envelope.Payload, out statement, out var statementError))
            {
                return SigstoreBundleCheck.Fail("invalid attestation: " + statementError);
            }

            var parsed = statement;
            if (!artifact.SubjectDigests().Any(parsed.IsAbout))
            {
                return SigstoreBundleCheck.Fail($"invalid attestation: the statement's subject does not name {artifact.Digest}");
            }

            logged = new RekorBundle.LoggedSignature(SHA256.HashData(pae), SHA256.HashData(envelope.Payload), signature, signerDer);
        }

        // 3. RFC 3161 timestamps over the signature. Tokens from authorities the root does not know count for nothing.
        var now = time.GetUtcNow();
        var timestamps = new List<VerifiedTimestamp>();
        for (var i = 0; i < bundle.SignedTimestamps.Count; i++)
        {
            for (var j = i + 1; j < bundle.SignedTimestamps.Count; j++)
            {
                if (bundle.SignedTimestamps[i].AsSpan().SequenceEqual(bundle.SignedTimestamps[j]))
                {
                    return SigstoreBundleCheck.Fail("timestamp: the bundle holds the same timestamp twice");
                }
            }

            if (!Rfc3161Timestamp.TryParse(bundle.SignedTimestamps[i], out var token, out var tokenError))
            {
                return SigstoreBundleCheck.Fail("timestamp: " + tokenError);
            }

            if (!token.IsSignedByOneOf(trustedRoot.TimestampAuthorities))
            {
                continue;
            }

            if (token.Verify(signature, trustedRoot.TimestampAuthorities) is { } timestampError)
            {
                return SigstoreBundleCheck.Fail("timestamp: " + timestampError);
            }

            timestamps.Add(new VerifiedTimestamp(token.GenerationTime, TimestampSource.TimestampAuthority, "rfc3161"));
        }

        var authorityTimes = timestamps.Select(t => t.Time).ToList();
        if (authorityTimes.Count < options.TimestampThreshold)
        {
            return SigstoreBundleCheck.Fail($"timestamp: {authorityTimes.Count} timestamps from trusted timestamp authorities verify, {options.TimestampThreshold} required");
        }

        // 4. Transparency log entries. Entries of logs the root does not know are skipped; a trusted log's entry must verify.
        var verifiedEntries = 0;
        for (var i = 0; i < bundle.TlogEntries.Count; i++)
        {
            var entry = bundle.TlogEntries[i];
            for (var j = i + 1; j < bundle.TlogEntries.Count; j++)
            {
                if (bundle.TlogEntries[j].LogIndex == entry.LogIndex && bundle.TlogEntries[j].LogId.AsSpan().SequenceEqual(entry.LogId))
                {
                    return SigstoreBundleCheck.Fail("transparency log: the bundle holds the same entry twice");
                }
            }

            var log = trustedRoot.TransparencyLogs.FirstOrDefault(l => l.LogId.AsSpan().SequenceEqual(entry.LogId));
            if (log is null)
            {
                continue;
            }

            var entryError = VerifyEntry(entry, log, logged, bundle.MinorVersion, authorityTimes, now + options.MaxClockSkew, out var integrated);
            if (entryError is not null)
            {
                return SigstoreBundleCheck.Fail("transparency log: " + entryError);
            }

            if (integrated is { } integratedTime)
            {
                timestamps.Add(new VerifiedTimestamp(integratedTime, TimestampSource.TransparencyLog, log.BaseUrl));
            }

            verifiedEntries++;
        }

        if (verifiedEntries < options.TransparencyLogThreshold)
        {
            return SigstoreBundleCheck.Fail(bundle.TlogEntries.Count == 0
                ? "no transparency log entry: the bundle was not logged"
                : "transparency log: no entry of the bundle comes from a trusted transparency log");
        }

        // 5. The signing time must be proven, unless no proof was asked for (then the clock judges, as cosign does).
        if (timestamps.Count == 0)
        {
            if (options.TransparencyLogThreshold > 0 || bundle.TlogEntries.Count > 0 || bundle.SignedTimestamps.Count > 0)
            {
                return SigstoreBundleCheck.Fail("no verified signing time: neither a transparency log entry with a SignedEntryTimestamp nor a timestamp from a trusted timestamp authority proves when the bundle was signed");
            }

            timestamps.Add(new VerifiedTimestamp(now, TimestampSource.CurrentTime, string.Empty));
        }

        // 6. The certificate (chain, validity, identity, SCT) at every proven time.
        foreach (var timestamp in timestamps)
        {
            if (signer.CheckCertificate(identity, timestamp.Time, trustedRoot) is { } certificateError)
            {
                return SigstoreBundleCheck.Fail("certificate: " + certificateError);
            }
        }

        return new SigstoreBundleCheck(true, "verified", timestamps.Min(t => t.Time), statement, bundle.Certificate, timestamps);
    }

    /// <summary>One entry of a trusted log: body, SignedEntryTimestamp, inclusion proof and checkpoint. Null when it verifies.</summary>
    private static string? VerifyEntry(
        BundleTlogEntry entry,
        TransparencyLog log,
        RekorBundle.LoggedSignature logged,
        int minorVersion,
        List<DateTimeOffset> authorityTimes,
        DateTimeOffset latestAcceptable,
        out DateTimeOffset? integratedTime)
    {
        integratedTime = null;
        if (log.ValidFrom is null)
        {
            return $"the trusted root gives the key of log {log.BaseUrl} no validity start";
        }

        if (RekorBundle.CheckBody(entry.CanonicalizedBody, logged with { KindVersion = (entry.Kind, entry.Version) }) is { } bodyError)
        {
            return "the entry does not match the bundle: " + bodyError;
        }

        if (entry.SignedEntryTimestamp is { } set)
        {
            if (entry.IntegratedTime <= 0)
            {
                return "the entry has a SignedEntryTimestamp but no integrated time";
            }

            var rekor = RekorBundle.Create(set, entry.CanonicalizedBody, entry.IntegratedTime, entry.LogIndex, Convert.ToHexStringLower(entry.LogId));
            if (!rekor.SignedEntryTimestampVerifies(log))
            {
                return "the entry's SignedEntryTimestamp does not verify with the log key";
            }

            var integrated = DateTimeOffset.FromUnixTimeSeconds(entry.IntegratedTime);
            if (!log.WasValidAt(integrated))
            {
                return $"the log key was not valid at the entry's integrated time {integrated:O}";
            }

            if (integrated > latestAcceptable)
            {
                return $"the entry's integrated time {integrated:O} is in the future";
            }

            integratedTime = integrated;
        }
        else if (authorityTimes.Any(t => !log.WasValidAt(t)))
        {
            return "the log key was not valid when the bundle was timestamped";
        }

        if (entry.InclusionProof is { } proof)
        {
            byte[] body;
            try
            {
                body = Convert.FromBase64String(entry.CanonicalizedBody);
            }
            catch (FormatException)
            {
                return "the entry body is not base64";
            }

            if (!MerkleInclusion.Verify(proof.LogIndex, proof.TreeSize, MerkleInclusion.LeafHash(body), proof.Hashes, proof.RootHash))
            {
                return "the inclusion proof does not lead from the entry to the proof's root hash";
            }

            if (proof.Checkpoint is null)
            {
                // Bundles v0.1 predate checkpoints; their proof of logging is the SignedEntryTimestamp.
                if (minorVersion >= 2)
                {
                    return "the inclusion proof has no signed checkpoint";
                }
            }
            else
            {
                if (!SignedCheckpoint.TryParse(proof.Checkpoint, out var checkpoint, out var checkpointError))
                {
                    return "checkpoint: " + checkpointError;
                }

                if (checkpoint.VerifySignature(log) is { } signatureError)
                {
                    return "checkpoint: " + signatureError;
                }

                if (checkpoint.TreeSize != proof.TreeSize || !checkpoint.RootHash.AsSpan().SequenceEqual(proof.RootHash))
                {
                    return "checkpoint: the signed checkpoint is not for the inclusion proof's tree";
                }
            }
        }
        else if (entry.SignedEntryTimestamp is null)
        {
            return "the entry has neither an inclusion proof nor a SignedEntryTimestamp";
        }

        return null;
    }
}

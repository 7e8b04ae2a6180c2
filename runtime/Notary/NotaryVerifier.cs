using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Notary;

/// <summary>The descriptor of the artifact a Notation signature must name: the admitted image's manifest.</summary>
public sealed record NotaryArtifact(string MediaType, string Digest, long Size);

/// <summary>A signature envelope as stored in a Notation signature manifest: its layer's media type and bytes.</summary>
public sealed record NotarySignature(string MediaType, byte[] Envelope, string ManifestDigest);

/// <summary>
/// Verifies Notary Project signatures (Notation's JWS and COSE envelopes) the way Kyverno's Notary verifier has Notation do it:
/// a trust policy at level <c>strict</c> with one CA trust store holding the attestor's <c>cert</c> and
/// <c>certChain</c>, any identity, and no timestamp-authority trust store. So a signature verifies when its envelope is
/// intact and well formed (integrity: signature over the protected header and payload, the header's critical
/// parameters, a well-formed code-signing chain in <c>x5c</c> whose leaf key matches <c>alg</c>), one certificate of
/// that chain is a trusted one (authenticity), it has not expired (<c>io.cncf.notary.expiry</c>), every certificate of
/// the chain is valid now (<c>notary.x509</c>; a timestamp countersignature is not read, since no TSA is trusted) or was
/// at the authentic signing time (<c>notary.x509.signingAuthority</c>), its payload's target artifact is the image's
/// manifest (media type, digest and size), and no certificate of the chain is revoked or of unknown revocation status
/// (<see cref="NotaryRevocation"/>: OCSP and CRL, as strict enforces).
/// </summary>
public static partial class NotaryVerifier
{
    public const string SignatureArtifactType = "application/vnd.cncf.notary.signature";
    public const string JwsMediaType = "application/jose+json";
    public const string CoseMediaType = "application/cose";
    public const string PayloadContentType = "application/vnd.cncf.notary.payload.v1+json";

    /// <summary>Kyverno has Notation try at most this many signatures of an image (<c>MaxSignatureAttempts</c>).</summary>
    public const int MaxSignatureAttempts = 10;

    private const string SigningScheme = "io.cncf.notary.signingScheme";
    private const string SigningTimeName = "io.cncf.notary.signingTime";
    private const string AuthenticSigningTime = "io.cncf.notary.authenticSigningTime";
    private const string ExpiryName = "io.cncf.notary.expiry";
    private const string VerificationPlugin = "io.cncf.notary.verificationPlugin";
    private const string TimestampSignature = "io.cncf.notary.timestampSignature";
    private const string SigningAgent = "io.cncf.notary.signingAgent";
    private const string SchemeX509 = "notary.x509";
    private const string SchemeSigningAuthority = "notary.x509.signingAuthority";

    private static readonly JsonDocumentOptions s_strictJson = new() { AllowDuplicateProperties = false, MaxDepth = 16 };

    /// <summary>
    /// Whether any of the image's signatures verifies for <paramref name="trusted"/>, revocation included; the first
    /// failure's reason otherwise. Signatures are tried in order, at most <see cref="MaxSignatureAttempts"/>, as Notation
    /// does.
    /// </summary>
    public static Task<SignatureCheck> VerifyAsync(IReadOnlyList<NotarySignature> signatures, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, NotaryRevocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return VerifyAnyAsync(signatures, artifact, trusted, now, revocation, cancellationToken);
    }

    /// <summary>One signature envelope against the artifact and the trusted certificates, revocation included.</summary>
    public static Task<SignatureCheck> VerifyAsync(NotarySignature signature, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, NotaryRevocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return VerifyOneAsync(signature, artifact, trusted, now, revocation, cancellationToken);
    }

    /// <summary>
    /// Every check but revocation, which needs the network: for the tests of the envelope and the fuzz target, whose
    /// chains name no OCSP responder or CRL distribution point (so revocation would check nothing).
    /// </summary>
    internal static SignatureCheck Verify(IReadOnlyList<NotarySignature> signatures, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now) =>
        VerifyAnyAsync(signatures, artifact, trusted, now, revocation: null, CancellationToken.None).GetAwaiter().GetResult();

    /// <inheritdoc cref="Verify(IReadOnlyList{NotarySignature}, NotaryArtifact, IReadOnlyList{X509Certificate2}, DateTimeOffset)"/>
    internal static SignatureCheck Verify(NotarySignature signature, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now) =>
        CheckEnvelope(signature, artifact, trusted, now, out _);

    private static async Task<SignatureCheck> VerifyAnyAsync(IReadOnlyList<NotarySignature> signatures, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, NotaryRevocation? revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(signatures);
        if (signatures.Count == 0)
        {
            return SignatureCheck.Fail(CosignKeyVerifier.SignatureNotFound);
        }

        string? reason = null;
        // One signature failing only on an unknown revocation status could verify at the next review: so could the set.
        var mayChange = false;
        for (var i = 0; i < signatures.Count; i++)
        {
            if (i == MaxSignatureAttempts)
            {
                return SignatureCheck.Fail($"{reason}; signature evaluation stopped: the limit of {MaxSignatureAttempts} signatures to verify per artifact was reached", mayChange);
            }

            var check = await VerifyOneAsync(signatures[i], artifact, trusted, now, revocation, cancellationToken).ConfigureAwait(false);
            if (check.Verified)
            {
                return check;
            }

            reason ??= check.Reason;
            mayChange |= check.MayChange;
        }

        return SignatureCheck.Fail(reason!, mayChange);
    }

    private static async Task<SignatureCheck> VerifyOneAsync(NotarySignature signature, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, NotaryRevocation? revocation, CancellationToken cancellationToken)
    {
        var check = CheckEnvelope(signature, artifact, trusted, now, out var envelope);
        if (!check.Verified || revocation is null)
        {
            return check;
        }

        // Revocation last, once everything that needs no network has passed (Notation checks it before the target
        // artifact; the outcome is the same, and a signature for another image costs no OCSP or CRL call here). A
        // signing authority's signing time is authentic, so a revocation dated after it does not count.
        var problem = await revocation.CheckAsync(envelope!.Chain, envelope.Scheme == SchemeSigningAuthority ? envelope.SigningTime : null, cancellationToken).ConfigureAwait(false);
        return problem is not { } found ? check : SignatureCheck.Fail("invalid signature: " + found.Reason, mayChange: found.StatusUnknown);
    }

    private static SignatureCheck CheckEnvelope(NotarySignature signature, NotaryArtifact artifact, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, out NotaryEnvelope? envelope)
    {
        ArgumentNullException.ThrowIfNull(signature);
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentNullException.ThrowIfNull(trusted);
        string? error;
        if (signature.MediaType == JwsMediaType)
        {
            envelope = JwsEnvelope.Parse(signature.Envelope, out error);
        }
        else if (signature.MediaType == CoseMediaType)
        {
            envelope = CoseEnvelope.Parse(signature.Envelope, out error);
        }
        else
        {
            envelope = null;
            return SignatureCheck.Fail($"invalid signature: the envelope type {signature.MediaType} is not supported ({JwsMediaType} or {CoseMediaType})");
        }

        if (envelope is null)
        {
            return SignatureCheck.Fail("invalid signature: " + error);
        }

        // Integrity: the chain is a well-formed code-signing chain, its leaf key is the one alg names, and it signed.
        if (NotaryCertificates.ValidateChain(envelope.Chain) is { } chainError)
        {
            return SignatureCheck.Fail("invalid signature: certificate chain: " + chainError);
        }

        var leaf = envelope.Chain[0];
        if (NotaryCertificates.SigningAlgorithm(leaf) != envelope.Algorithm)
        {
            return SignatureCheck.Fail($"invalid signature: the signing certificate's key is not used with {envelope.Algorithm}");
        }

        if (!VerifySignature(leaf, envelope))
        {
            return SignatureCheck.Fail(CosignKeyVerifier.InvalidSignature);
        }

        // Authenticity: some certificate of the signature's chain is one the policy trusts.
        if (!envelope.Chain.Any(c => trusted.Any(t => t.RawData.AsSpan().SequenceEqual(c.RawData))))
        {
            return SignatureCheck.Fail("invalid signature: the certificate chain of the signature contains none of the attestor certificates");
        }

        if (envelope.Expiry is { } expiry && now >= expiry)
        {
            return SignatureCheck.Fail($"invalid signature: the signature expired at {expiry.ToString("u", CultureInfo.InvariantCulture)}");
        }

        // Authentic timestamp: with no trusted timestamp authority, the chain must be valid now; a signing authority's
        // signing time is authentic, so its chain must have been valid then.
        var at = envelope.Scheme == SchemeSigningAuthority ? envelope.SigningTime : now;
        foreach (var certificate in envelope.Chain)
        {
            if (at < certificate.NotBefore.ToUniversalTime() || at > certificate.NotAfter.ToUniversalTime())
            {
                return SignatureCheck.Fail(envelope.Scheme == SchemeSigningAuthority
                    ? $"invalid signature: the certificate {NotaryCertificates.Name(certificate)} was not valid at the authentic signing time {at.ToString("u", CultureInfo.InvariantCulture)}"
                    : $"invalid signature: the certificate {NotaryCertificates.Name(certificate)} is not valid now (valid from {certificate.NotBefore.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)} to {certificate.NotAfter.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)})");
            }
        }

        var target = envelope.TargetArtifact;
        if (target.MediaType != artifact.MediaType || target.Digest != artifact.Digest || target.Size != artifact.Size)
        {
            return SignatureCheck.Fail($"invalid signature: the signature is for {target.MediaType} {target.Digest} ({target.Size} bytes), not the image's manifest {artifact.MediaType} {artifact.Digest} ({artifact.Size} bytes)");
        }

        return SignatureCheck.Pass;
    }

    private static bool VerifySignature(X509Certificate2 leaf, NotaryEnvelope envelope)
    {
        var hash = envelope.Algorithm[2..] switch { "256" => HashAlgorithmName.SHA256, "384" => HashAlgorithmName.SHA384, _ => HashAlgorithmName.SHA512 };
        if (envelope.Algorithm[0] == 'P')
        {
            // Notation verifies JWS PS* through golang-jwt, which accepts any salt length, and COSE PS* through go-cose,
            // which wants a salt as long as the hash.
            using var rsa = leaf.GetRSAPublicKey()!;
            return envelope.AnyPssSaltLength
                ? RsaPss.Verify(rsa, SignatureHashes.Compute(hash, envelope.SigningInput), envelope.Signature, hash)
                : rsa.VerifyData(envelope.SigningInput, envelope.Signature, hash, RSASignaturePadding.Pss);
        }

        using var ecdsa = leaf.GetECDsaPublicKey()!;
        return ecdsa.VerifyData(envelope.SigningInput, envelope.Signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>
    /// What either envelope format says, once read: the signing algorithm (by its JWS name), the signed attributes, the
    /// chain leaf first, and the bytes the signature is over.
    /// </summary>
    private sealed record NotaryEnvelope(
        string Algorithm,
        string Scheme,
        DateTimeOffset SigningTime,
        DateTimeOffset? Expiry,
        NotaryArtifact TargetArtifact,
        IReadOnlyList<X509Certificate2> Chain,
        byte[] SigningInput,
        byte[] Signature,
        bool AnyPssSaltLength);

    /// <summary>
    /// The signed attributes the specification has a signer mark critical: the signing scheme, the authentic signing
    /// time under <c>notary.x509.signingAuthority</c>, and the expiry when there is one. The first not marked, or null.
    /// </summary>
    private static string? MissingCritical(string scheme, bool hasExpiry, Func<string, bool> isCritical)
    {
        if (!isCritical(SigningScheme))
        {
            return SigningScheme;
        }

        if (scheme == SchemeSigningAuthority && !isCritical(AuthenticSigningTime))
        {
            return AuthenticSigningTime;
        }

        return hasExpiry && !isCritical(ExpiryName) ? ExpiryName : null;
    }

    /// <summary>
    /// A Notary Project JWS envelope (signature-envelope-jws.md): JWS JSON serialization with <c>payload</c>,
    /// <c>protected</c>, <c>header</c> (<c>x5c</c>, optionally <c>io.cncf.notary.signingAgent</c> and
    /// <c>io.cncf.notary.timestampSignature</c>) and <c>signature</c>.
    /// </summary>
    private static class JwsEnvelope
    {
        public static NotaryEnvelope? Parse(byte[] bytes, out string? error)
        {
            try
            {
                using var document = JsonDocument.Parse(bytes, s_strictJson);
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object
                    || Text(root, "payload") is not { } payloadText
                    || Text(root, "protected") is not { } protectedText
                    || Text(root, "signature") is not { } signatureText)
                {
                    error = "the JWS envelope lacks payload, protected or signature";
                    return null;
                }

                if (!root.TryGetProperty("header", out var header) || header.ValueKind != JsonValueKind.Object
                    || !header.TryGetProperty("x5c", out var x5c) || x5c.ValueKind != JsonValueKind.Array || x5c.GetArrayLength() == 0)
                {
                    error = "the JWS envelope's unprotected header has no x5c certificate chain";
                    return null;
                }

                // notation-core-go reads these two into typed fields (bytes as standard base64, a string), so other values
                // fail its parse. The countersignature itself is not read: with no TSA trust store (Kyverno configures
                // none) Notation skips timestamp verification, and the chain must be valid now.
                if (header.TryGetProperty(TimestampSignature, out var timestamp) && timestamp.ValueKind != JsonValueKind.Null
                    && (timestamp.ValueKind != JsonValueKind.String || !Convert.TryFromBase64String(timestamp.GetString()!, new byte[timestamp.GetString()!.Length], out _)))
                {
                    error = $"the unprotected header's {TimestampSignature} is not base64 bytes";
                    return null;
                }

                if (header.TryGetProperty(SigningAgent, out var agent) && agent.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                {
                    error = $"the unprotected header's {SigningAgent} is not a string";
                    return null;
                }

                var chain = new List<X509Certificate2>();
                foreach (var entry in x5c.EnumerateArray())
                {
                    if (entry.ValueKind != JsonValueKind.String)
                    {
                        error = "an x5c entry is not a string";
                        return null;
                    }

                    chain.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(entry.GetString()!)));
                }

                var protectedBytes = Base64Url.DecodeFromChars(protectedText);
                var protectedHeader = ParseProtected(protectedBytes, out error);
                if (protectedHeader is null)
                {
                    return null;
                }

                var payload = ParsePayload(Base64Url.DecodeFromChars(payloadText), out error);
                if (payload is null)
                {
                    return null;
                }

                var (algorithm, scheme, signingTime, expiry) = protectedHeader.Value;
                var signingInput = Encoding.ASCII.GetBytes(protectedText + "." + payloadText);
                return new NotaryEnvelope(algorithm, scheme, signingTime, expiry, payload, chain, signingInput, Base64Url.DecodeFromChars(signatureText), AnyPssSaltLength: true);
            }
            // InvalidOperationException: a string that is not valid UTF-8 or Unicode, which JsonDocument reports only when
            // it is read (found by the notary-envelope fuzz target).
            catch (Exception e) when (e is JsonException or FormatException or CryptographicException or InvalidOperationException)
            {
                error = "the JWS envelope is malformed: " + e.Message;
                return null;
            }
        }

        private static (string Algorithm, string Scheme, DateTimeOffset SigningTime, DateTimeOffset? Expiry)? ParseProtected(byte[] bytes, out string? error)
        {
            using var document = JsonDocument.Parse(bytes, s_strictJson);
            var header = document.RootElement;
            if (header.ValueKind != JsonValueKind.Object)
            {
                error = "the protected header is not a JSON object";
                return null;
            }

            var algorithm = Text(header, "alg");
            if (algorithm is not ("PS256" or "PS384" or "PS512" or "ES256" or "ES384" or "ES512"))
            {
                error = $"the protected header's alg '{algorithm}' is not one of PS256, PS384, PS512, ES256, ES384, ES512";
                return null;
            }

            if (Text(header, "cty") != PayloadContentType)
            {
                error = $"the protected header's cty '{Text(header, "cty")}' is not {PayloadContentType}";
                return null;
            }

            var scheme = Text(header, SigningScheme);
            if (scheme is not (SchemeX509 or SchemeSigningAuthority))
            {
                error = $"the signing scheme '{scheme}' is not {SchemeX509} or {SchemeSigningAuthority}";
                return null;
            }

            if (!header.TryGetProperty("crit", out var critElement) || critElement.ValueKind != JsonValueKind.Array || critElement.GetArrayLength() == 0)
            {
                error = "the protected header has no crit list";
                return null;
            }

            var critical = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in critElement.EnumerateArray())
            {
                if (name.ValueKind != JsonValueKind.String || !critical.Add(name.GetString()!) || !header.TryGetProperty(name.GetString()!, out _))
                {
                    error = $"the crit entry {name.GetRawText()} does not name a distinct parameter of the protected header";
                    return null;
                }
            }

            var timeName = scheme == SchemeX509 ? SigningTimeName : AuthenticSigningTime;
            if (MissingCritical(scheme, header.TryGetProperty(ExpiryName, out _), critical.Contains) is { } missing)
            {
                error = $"the protected header must list {missing} in crit";
                return null;
            }

            // Kyverno gives Notation no plugins: a signature that needs one cannot be verified.
            if (Text(header, VerificationPlugin) is { } plugin)
            {
                error = $"the signature requires the verification plugin '{plugin}', which is not available";
                return null;
            }

            if (Time(header, timeName) is not { } signingTime)
            {
                error = $"the protected header has no valid {timeName}";
                return null;
            }

            DateTimeOffset? expiry = null;
            if (header.TryGetProperty(ExpiryName, out _))
            {
                expiry = Time(header, ExpiryName);
                if (expiry is null || expiry <= signingTime)
                {
                    error = "the signature's expiry is not a time after its signing time";
                    return null;
                }
            }

            error = null;
            return (algorithm, scheme, signingTime, expiry);
        }

        /// <summary>The signature payload (both formats): a JSON object whose <c>targetArtifact</c> is the signed descriptor.</summary>
        public static NotaryArtifact? ParsePayload(byte[] bytes, out string? error)
        {
            using var document = JsonDocument.Parse(bytes, s_strictJson);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("targetArtifact", out var target) || target.ValueKind != JsonValueKind.Object
                || Text(target, "mediaType") is not { } mediaType || Text(target, "digest") is not { } digest
                || !target.TryGetProperty("size", out var sizeElement) || !sizeElement.TryGetInt64(out var size))
            {
                error = "the payload has no targetArtifact with mediaType, digest and size";
                return null;
            }

            error = null;
            return new NotaryArtifact(mediaType, digest, size);
        }

        private static string? Text(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

        // RFC 3339, as Go's time.Time marshals it.
        private static DateTimeOffset? Time(JsonElement element, string name) =>
            Text(element, name) is { } text && DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time)
                ? time
                : null;
    }
}

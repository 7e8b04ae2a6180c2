using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// Signatures, keys and certificates that are almost right. Each case states whether the signature counts; the
/// reference behaviour is cosign's (Go's crypto/ecdsa and crypto/x509), and where we differ the test says why.
/// </summary>
public sealed class CryptoEdgeCaseTests : IDisposable
{
    private const string Digest = "sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105";

    /// <summary>The order of the P-256 group.</summary>
    private static readonly BigInteger s_p256Order = BigInteger.Parse("0FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", System.Globalization.NumberStyles.HexNumber);

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly byte[] _data = Encoding.UTF8.GetBytes("""{"critical":{"identity":{"docker-reference":"hostile.test/team/app"},"image":{"docker-manifest-digest":"sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105"},"type":"cosign container image signature"},"optional":null}""");

    public void Dispose() => _key.Dispose();

    private VerificationKey PublicKey => VerificationKey.FromSubjectPublicKeyInfo(_key.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256);

    /// <summary>r and s of a fresh signature over the payload, as unsigned big-endian integers.</summary>
    private (BigInteger R, BigInteger S) Sign()
    {
        var p1363 = _key.SignData(_data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return (new BigInteger(p1363.AsSpan(0, 32), isUnsigned: true, isBigEndian: true), new BigInteger(p1363.AsSpan(32), isUnsigned: true, isBigEndian: true));
    }

    private static byte[] Integer(BigInteger value, int extraLeadingZeros = 0)
    {
        // Minimal two's complement, big-endian (a leading 0x00 when the top bit is set), then any padding asked for.
        var content = value.ToByteArray(isUnsigned: false, isBigEndian: true);
        return [0x02, (byte)(content.Length + extraLeadingZeros), .. new byte[extraLeadingZeros], .. content];
    }

    private static byte[] Sequence(byte[] body, bool longFormLength = false) =>
        longFormLength ? [0x30, 0x81, (byte)body.Length, .. body] : [0x30, (byte)body.Length, .. body];

    private static byte[] Der(BigInteger r, BigInteger s) => Sequence([.. Integer(r), .. Integer(s)]);

    [Fact]
    public void MinimalDerSignatureVerifies()
    {
        // The control for every DER variant below.
        var (r, s) = Sign();

        Assert.True(PublicKey.Verify(_data, Der(r, s)));
    }

    [Fact]
    public void TrailingBytesAfterTheDerSequenceAreRejected()
    {
        var (r, s) = Sign();

        Assert.False(PublicKey.Verify(_data, [.. Der(r, s), 0x00]));
        Assert.False(PublicKey.Verify(_data, [.. Der(r, s), 0x30, 0x00]));
    }

    [Fact]
    public void LongFormLengthOfAShortSequenceIsRejected()
    {
        // Go's encoding/asn1 and cryptobyte refuse non-minimal lengths; so must we, or one signature has two encodings.
        var (r, s) = Sign();

        Assert.False(PublicKey.Verify(_data, Sequence([.. Integer(r), .. Integer(s)], longFormLength: true)));
    }

    [Fact]
    public void IntegerWithARedundantLeadingZeroIsRejected()
    {
        var (r, s) = Sign();

        Assert.False(PublicKey.Verify(_data, Sequence([.. Integer(r, extraLeadingZeros: 1), .. Integer(s)])));
        Assert.False(PublicKey.Verify(_data, Sequence([.. Integer(r), .. Integer(s, extraLeadingZeros: 1)])));
    }

    [Fact]
    public void NegativeOrZeroOrOutOfRangeScalarsAreRejected()
    {
        var (r, s) = Sign();

        Assert.False(PublicKey.Verify(_data, Der(-r, s)));
        Assert.False(PublicKey.Verify(_data, Der(r, BigInteger.Zero)));
        Assert.False(PublicKey.Verify(_data, Der(r + s_p256Order, s)));
        Assert.False(PublicKey.Verify(_data, Der(r, s + s_p256Order)));
    }

    /// <summary>
    /// Decision: high-S signatures are accepted for ECDSA, as Go's crypto/ecdsa (and so cosign and Kyverno) accepts
    /// them. (r, n−s) is a second valid signature of the same payload; that malleability is harmless here because no
    /// verdict or cache key depends on the signature bytes, only on the digest and the signer. Ed25519 is strict by its
    /// RFC 8032 verification (s must be below the group order), which <see cref="Ed25519KeyTests"/> covers.
    /// </summary>
    [Fact]
    public void HighSEcdsaSignatureIsAcceptedAsCosignAcceptsIt()
    {
        var (r, s) = Sign();
        var highS = s_p256Order - s;

        Assert.True(PublicKey.Verify(_data, Der(r, highS)));
    }

    [Fact]
    public void SignatureOfAKeyOnAnotherCurveDoesNotVerify()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var signature = p384.SignData(_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        Assert.False(PublicKey.Verify(_data, signature));
    }

    /// <summary>
    /// secp256k1 and brainpoolP256r1 keys are 256-bit curves too, and were read as <see cref="KeyAlgorithm.EcdsaP256"/>.
    /// cosign (Go's crypto/x509) only knows the NIST curves; a key on another curve is refused, not mislabelled.
    /// </summary>
    [Theory]
    [InlineData("secp256k1")]
    [InlineData("brainpoolP256r1")]
    [InlineData("brainpoolP384r1")]
    public void KeyOnANonNistCurveIsRefused(string curve)
    {
        using var key = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));

        Assert.Throws<CryptographicException>(() => VerificationKey.FromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256));
    }

    // ---- certificates (the certChain attestor: the signing certificate travels with the signature) -------------------

    private sealed class Pki : IDisposable
    {
        public Pki()
        {
            var request = new CertificateRequest("CN=Hostile Test Root", RootKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-5), DateTimeOffset.UtcNow.AddYears(5));
        }

        public ECDsa RootKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public X509Certificate2 Root { get; }

        public X509Certificate2 Leaf(AsymmetricAlgorithm leafKey, DateTimeOffset notBefore, DateTimeOffset notAfter, params X509Extension[] extra)
        {
            var request = leafKey switch
            {
                ECDsa ec => new CertificateRequest("CN=signer", ec, HashAlgorithmName.SHA256),
                RSA rsa => new CertificateRequest("CN=signer", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                _ => throw new ArgumentException("key type", nameof(leafKey)),
            };
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
            foreach (var extension in extra)
            {
                request.CertificateExtensions.Add(extension);
            }

            var serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7f;
            return request.Create(Root.SubjectName, X509SignatureGenerator.CreateForECDsa(RootKey), notBefore, notAfter, serial);
        }

        public void Dispose()
        {
            Root.Dispose();
            RootKey.Dispose();
        }
    }

    private SignatureCheck VerifyWithCertificate(ECDsa leafKey, X509Certificate2 leaf, X509Certificate2 root)
    {
        var signature = leafKey.SignData(_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var layer = new CosignSignature(_data, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(signature),
            [CosignSignature.CertificateAnnotation] = leaf.ExportCertificatePem(),
        });
        return CosignVerifier.Verify([layer], Digest, new CertificateSigner(null, [root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null), SignatureRequirements.None, TimeProvider.System);
    }

    [Fact]
    public void CertificateChainingToTheRootVerifies()
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.True(check.Verified, check.Reason);
    }

    /// <summary>Go's x509 refuses certificates with critical extensions it does not handle; so does the chain here.</summary>
    [Fact]
    public void CertificateWithAnUnknownCriticalExtensionIsRejected()
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), new X509Extension("1.3.6.1.4.1.55555.1.1", [0x05, 0x00], critical: true));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.False(check.Verified);
        Assert.Contains("critical extension", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CertificateThatExpiredBeforeTheSignatureIsRejected()
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.False(check.Verified);
        Assert.Contains("was not valid at", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CertificateNotYetValidWhenSigningIsRejected()
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddDays(2), DateTimeOffset.UtcNow.AddDays(30));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.False(check.Verified);
        Assert.Contains("was not valid at", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CertificateIssuedOutsideTheRootsValidityIsRejected()
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        // Issued (NotBefore) six years ago, when the five-year-old root did not exist yet.
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddYears(-6), DateTimeOffset.UtcNow.AddYears(1));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.False(check.Verified);
        Assert.Contains("does not chain", check.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A signing certificate whose key is on a curve the verifier does not support (P-224, secp256k1) is a failed
    /// signature. It used to throw out of the verifier, which made it an error that <c>failurePolicy: Ignore</c> admits.
    /// </summary>
    [Theory]
    [InlineData("nistP224")]
    [InlineData("secp256k1")]
    public void CertificateWithAKeyOnAnUnsupportedCurveIsAFailedSignatureNotAnException(string curve)
    {
        using var pki = new Pki();
        using var leafKey = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));
        using var leaf = pki.Leaf(leafKey, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        var check = VerifyWithCertificate(leafKey, leaf, pki.Root);

        Assert.False(check.Verified);
        Assert.Contains("curve", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CertificateThatIsNotPemIsAFailedSignature()
    {
        var layer = new CosignSignature(_data, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = "MEUCIQ==",
            [CosignSignature.CertificateAnnotation] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        });
        using var pki = new Pki();

        var check = CosignVerifier.Verify([layer], Digest, new CertificateSigner(null, [pki.Root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null), SignatureRequirements.None, TimeProvider.System);

        Assert.False(check.Verified);
    }

    // ---- Rekor bundles that are genuine but about something else ---------------------------------------------------

    public enum RekorLie
    {
        None,
        AnotherSignature,
        AnotherPayload,
        AnotherKey,
        BodySwappedAfterTheSet,
    }

    /// <summary>
    /// A signature with a Rekor bundle signed by the trusted (test) log, whose hashedrekord entry names another
    /// signature (cosign GHSA-8gw7-4j42-w388 / CVE-2022-36056), another payload or another key (cosign
    /// GHSA-whqx-f9j3-ch6m / CVE-2026-22703), or whose body was replaced after the log signed it.
    /// </summary>
    [Theory]
    [InlineData(RekorLie.None, null)]
    [InlineData(RekorLie.AnotherSignature, "another signature")]
    [InlineData(RekorLie.AnotherPayload, "another payload")]
    [InlineData(RekorLie.AnotherKey, "another key")]
    [InlineData(RekorLie.BodySwappedAfterTheSet, "SignedEntryTimestamp does not verify")]
    public void RekorBundleMustLogThisSignatureOfThisPayloadByThisKey(RekorLie lie, string? expected)
    {
        using var log = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signature = _key.SignData(_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var otherPayload = Encoding.UTF8.GetBytes("another payload");
        var honest = HashedRekord(_data, signature, _key);
        var body = lie switch
        {
            RekorLie.AnotherSignature => HashedRekord(_data, _key.SignData(otherPayload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence), _key),
            RekorLie.AnotherPayload => HashedRekord(otherPayload, signature, _key),
            RekorLie.AnotherKey => HashedRekord(_data, signature, other),
            _ => honest,
        };
        var bundle = SignedBundle(log, body);
        if (lie == RekorLie.BodySwappedAfterTheSet)
        {
            var node = JsonNode.Parse(bundle)!;
            node["Payload"]!["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(HashedRekord(otherPayload, signature, _key)));
            bundle = node.ToJsonString();
        }

        var layer = new CosignSignature(_data, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(signature),
            [CosignSignature.BundleAnnotation] = bundle,
        });
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.test", VerificationKey.FromSubjectPublicKeyInfo(log.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256)) };

        var check = CosignVerifier.Verify([layer], Digest, new StaticKeySigner(PublicKey), requirements, TimeProvider.System);

        if (expected is null)
        {
            Assert.True(check.Verified, check.Reason);
        }
        else
        {
            Assert.False(check.Verified);
            Assert.Contains(expected, check.Reason, StringComparison.Ordinal);
        }
    }

    private static string HashedRekord(byte[] payload, byte[] signature, ECDsa signer) => new JsonObject
    {
        ["apiVersion"] = "0.0.1",
        ["kind"] = "hashedrekord",
        ["spec"] = new JsonObject
        {
            ["data"] = new JsonObject { ["hash"] = new JsonObject { ["algorithm"] = "sha256", ["value"] = Convert.ToHexStringLower(SHA256.HashData(payload)) } },
            ["signature"] = new JsonObject
            {
                ["content"] = Convert.ToBase64String(signature),
                ["publicKey"] = new JsonObject { ["content"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(signer.ExportSubjectPublicKeyInfoPem())) },
            },
        },
    }.ToJsonString();

    /// <summary>A Rekor bundle whose SignedEntryTimestamp the <paramref name="log"/> key made over the canonical payload.</summary>
    private static string SignedBundle(ECDsa log, string body)
    {
        var payload = new JsonObject
        {
            ["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(body)),
            ["integratedTime"] = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(),
            ["logIndex"] = 7,
            ["logID"] = Convert.ToHexStringLower(SHA256.HashData(log.ExportSubjectPublicKeyInfo())),
        };
        Assert.True(RekorBundle.TryParse(new JsonObject { ["SignedEntryTimestamp"] = "AA==", ["Payload"] = payload.DeepClone() }.ToJsonString(), out var unsigned, out _));
        var set = log.SignData(unsigned.CanonicalPayload(), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return new JsonObject { ["SignedEntryTimestamp"] = Convert.ToBase64String(set), ["Payload"] = payload }.ToJsonString();
    }

    // ---- DSSE and in-toto --------------------------------------------------------------------------------------------

    private CosignSignature Envelope(byte[] statement, string declaredType, string signedType)
    {
        var signature = _key.SignData(DsseEnvelope.PreAuthenticationEncoding(signedType, statement), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var envelope = new JsonObject
        {
            ["payloadType"] = declaredType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new JsonArray(new JsonObject { ["keyid"] = string.Empty, ["sig"] = Convert.ToBase64String(signature) }),
        };
        return new CosignSignature(Encoding.UTF8.GetBytes(envelope.ToJsonString()), new Dictionary<string, string>());
    }

    private static byte[] Statement(string predicateType = "https://slsa.dev/provenance/v1", string digest = Digest) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["_type"] = InTotoStatement.StatementV1,
            ["predicateType"] = predicateType,
            ["subject"] = new JsonArray(new JsonObject { ["name"] = "hostile.test/team/app", ["digest"] = new JsonObject { ["sha256"] = digest["sha256:".Length..] } }),
            ["predicate"] = new JsonObject { ["builder"] = new JsonObject { ["id"] = "https://builder.test" } },
        }.ToJsonString());

    private AttestationCheck VerifyAttestation(CosignSignature layer, string predicateType = "https://slsa.dev/provenance/v1") =>
        CosignAttestationVerifier.Verify([layer], Digest, predicateType, new StaticKeySigner(PublicKey), SignatureRequirements.None, TimeProvider.System);

    [Fact]
    public void DsseEnvelopeSignedUnderAnotherPayloadTypeThanItDeclaresIsInvalid()
    {
        // The signer signed the PAE of another type; relabelling the envelope in-toto must not make it a statement.
        var check = VerifyAttestation(Envelope(Statement(), DsseEnvelope.InTotoPayloadType, "application/vnd.example.other+json"));

        Assert.False(check.Verified);
        Assert.Equal(CosignKeyVerifier.InvalidSignature, check.Reason);
    }

    [Fact]
    public void DsseControlEnvelopeVerifies()
    {
        var check = VerifyAttestation(Envelope(Statement(), DsseEnvelope.InTotoPayloadType, DsseEnvelope.InTotoPayloadType));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void StatementAboutAnotherDigestIsRejected()
    {
        var check = VerifyAttestation(Envelope(Statement(digest: "sha256:" + new string('0', 64)), DsseEnvelope.InTotoPayloadType, DsseEnvelope.InTotoPayloadType));

        Assert.False(check.Verified);
        Assert.Contains("subject does not name", check.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// GHSA-w6c6-c85g-mmv6 (cosign verify-blob-attestation, 2026): a validly signed envelope whose payload does not
    /// parse was reported verified. Here a signed but malformed statement is never a verified attestation.
    /// </summary>
    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"_type\":\"https://in-toto.io/Statement/v1\"}")]
    [InlineData("{\"_type\":\"https://example.com/NotAStatement\",\"predicateType\":\"https://slsa.dev/provenance/v1\"}")]
    [InlineData("[]")]
    public void SignedButMalformedStatementIsNotVerified_GHSA_w6c6_c85g_mmv6(string payload)
    {
        var check = VerifyAttestation(Envelope(Encoding.UTF8.GetBytes(payload), DsseEnvelope.InTotoPayloadType, DsseEnvelope.InTotoPayloadType));

        Assert.False(check.Verified);
        Assert.StartsWith("invalid attestation", check.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// GHSA-vjxv-45g9-9296 / CVE-2022-35929 (cosign verify-attestation --type): a valid attestation of one predicate
    /// type was reported as verifying another type that had no attestation at all.
    /// </summary>
    [Fact]
    public void AttestationOfAnotherPredicateTypeDoesNotVerifyTheRequiredType_GHSA_vjxv_45g9_9296()
    {
        var check = VerifyAttestation(Envelope(Statement("https://cyclonedx.org/bom"), DsseEnvelope.InTotoPayloadType, DsseEnvelope.InTotoPayloadType), "https://slsa.dev/provenance/v1");

        Assert.False(check.Verified);
        Assert.Empty(check.Statements);
    }

    /// <summary>Type confusion: an image signature's simple-signing payload wrapped as a DSSE envelope is no statement.</summary>
    [Fact]
    public void SimpleSigningPayloadInADsseEnvelopeIsNotAnAttestation()
    {
        var check = VerifyAttestation(Envelope(_data, DsseEnvelope.InTotoPayloadType, DsseEnvelope.InTotoPayloadType));

        Assert.False(check.Verified);
        Assert.StartsWith("invalid attestation", check.Reason, StringComparison.Ordinal);
    }

    /// <summary>Type confusion the other way: an in-toto statement signed directly, placed in a <c>.sig</c> layer.</summary>
    [Fact]
    public void InTotoStatementSignedAsAnImageSignatureIsNotASignature()
    {
        var statement = Statement();
        var layer = new CosignSignature(statement, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(_key.SignData(statement, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
        });

        var check = CosignVerifier.Verify([layer], Digest, new StaticKeySigner(PublicKey), SignatureRequirements.None, TimeProvider.System);

        Assert.False(check.Verified);
        Assert.StartsWith(CosignKeyVerifier.InvalidSignature, check.Reason, StringComparison.Ordinal);
    }
}

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;
using PolicyCompiler.Runtime.Tests.Bundles;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// RFC 3161 timestamps on cosign signatures and attestations (<c>dev.sigstore.cosign/rfc3161timestamp</c>) and
/// <c>ctlog.tsaCertChain</c>: a timestamp that is present must verify, over the raw signature (an attestation's
/// envelope), against the policy's TSA chain or the trusted root's authorities; its time then bounds the signing
/// certificate, as cosign's verifyInternal does.
/// </summary>
public sealed class CosignTimestampTests : IDisposable
{
    private const string Digest = "sha256:4b1aa4b4d5bb8c5dc0e2c1d2b0d5b1b1f6c3b0e6a8e5f3a0a8c6d3c2b1a09f8e";

    private static readonly DateTimeOffset s_now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    private readonly TestTimestampAuthority _tsa = new(s_now.AddYears(-1), s_now.AddYears(1));
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public void Dispose()
    {
        _tsa.Dispose();
        _key.Dispose();
    }

    private static byte[] Payload(string digest = Digest) => Encoding.UTF8.GetBytes(
        $$"""{"critical":{"identity":{"docker-reference":"registry.test/app"},"image":{"docker-manifest-digest":"{{digest}}"},"type":"cosign container image signature"},"optional":null}""");

    private (CosignSignature Layer, byte[] Signature) Signed(Func<byte[], string?>? timestamp, Dictionary<string, string>? extra = null)
    {
        var payload = Payload();
        var signature = _key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var annotations = new Dictionary<string, string>(extra ?? [], StringComparer.Ordinal) { [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(signature) };
        if (timestamp?.Invoke(signature) is { } value)
        {
            annotations[CosignSignature.TimestampAnnotation] = value;
        }

        return (new CosignSignature(payload, annotations), signature);
    }

    private SignerPolicy Key => new StaticKeySigner(VerificationKey.FromPem(_key.ExportSubjectPublicKeyInfoPem()));

    private SignatureRequirements WithChain(params X509Certificate2[] chain) => new() { TimestampAuthorities = [CertificateAuthority.ForTimestampChain(chain)] };

    private static SignatureCheck Verify(CosignSignature layer, SignerPolicy signer, SignatureRequirements requirements) =>
        CosignVerifier.Verify([layer], Digest, signer, requirements, new FakeTimeProvider(s_now));

    [Fact]
    public void ATimestampFromTheConfiguredAuthorityVerifies()
    {
        var (layer, _) = Signed(signature => _tsa.Annotation(signature, s_now.AddMinutes(-5)));

        var rootOnly = Verify(layer, Key, WithChain(_tsa.Root));
        var withLeaf = Verify(layer, Key, WithChain(_tsa.Root, _tsa.Leaf));

        Assert.True(rootOnly.Verified, rootOnly.Reason);
        Assert.True(withLeaf.Verified, withLeaf.Reason);
    }

    [Fact]
    public void TheChainMayNameTheLeafWhenTheTokenDoesNotCarryIt()
    {
        var (layer, _) = Signed(signature => _tsa.Annotation(signature, s_now.AddMinutes(-5), embedLeaf: false));

        Assert.True(Verify(layer, Key, WithChain(_tsa.Leaf, _tsa.Root)).Verified);
        var rootOnly = Verify(layer, Key, WithChain(_tsa.Root));
        Assert.False(rootOnly.Verified);
        Assert.Equal("unable to verify RFC3161 timestamp: the timestamp was not signed by a trusted timestamp authority", rootOnly.Reason);
    }

    [Fact]
    public void ATimestampOverOtherBytesFailsTheSignature()
    {
        var (layer, _) = Signed(signature => _tsa.Annotation([.. signature, 0], s_now.AddMinutes(-5)));

        var check = Verify(layer, Key, WithChain(_tsa.Root));

        Assert.False(check.Verified);
        Assert.Equal("unable to verify RFC3161 timestamp: the timestamp is not over this signature", check.Reason);
    }

    [Fact]
    public void ATimestampFromAnotherAuthorityFails()
    {
        using var other = new TestTimestampAuthority(s_now.AddYears(-1), s_now.AddYears(1), "Other TSA");
        var (layer, _) = Signed(signature => other.Annotation(signature, s_now.AddMinutes(-5)));

        var againstPolicyChain = Verify(layer, Key, WithChain(_tsa.Root));
        var againstTrustedRoot = Verify(layer, Key, SignatureRequirements.None);

        // The token's own leaf is tried against the configured CA, and does not chain to it.
        Assert.Equal("unable to verify RFC3161 timestamp: the timestamp authority's certificate chain was not valid at " + s_now.AddMinutes(-5).ToString("O", System.Globalization.CultureInfo.InvariantCulture) + ": the chain does not end at the authority's root", againstPolicyChain.Reason);
        Assert.Equal("unable to verify RFC3161 timestamp: the timestamp was not signed by a trusted timestamp authority", againstTrustedRoot.Reason);
    }

    [Fact]
    public void WithoutAnyAuthorityATimestampFailsInCosignsWords()
    {
        var (layer, _) = Signed(signature => _tsa.Annotation(signature, s_now.AddMinutes(-5)));

        var check = Verify(layer, Key, new SignatureRequirements { TimestampAuthorities = [] });

        Assert.Equal("unable to verify RFC3161 timestamp bundle: no TSA root certificate(s) provided to verify timestamp", check.Reason);
    }

    [Fact]
    public void ATimestampOutsideTheTsaCertificatesValidityFails()
    {
        var (layer, _) = Signed(signature => _tsa.Annotation(signature, s_now.AddYears(-2)));

        var check = Verify(layer, Key, WithChain(_tsa.Root));

        Assert.False(check.Verified);
        Assert.StartsWith("unable to verify RFC3161 timestamp: the timestamp authority's certificate chain was not valid at", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{}")]
    [InlineData("{\"SignedRFC3161Timestamp\":5}")]
    [InlineData("{\"SignedRFC3161Timestamp\":\"%%%\"}")]
    [InlineData("{\"SignedRFC3161Timestamp\":\"MAA=\"}")]
    public void AMalformedTimestampAnnotationFailsTheSignatureNeverAdmits(string annotation)
    {
        var (layer, _) = Signed(_ => annotation);

        var check = Verify(layer, Key, WithChain(_tsa.Root));

        Assert.False(check.Verified);
        Assert.StartsWith("unable to verify RFC3161 timestamp", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutATimestampTheSignatureIsCheckedAsBefore()
    {
        var (layer, _) = Signed(null);

        Assert.True(Verify(layer, Key, WithChain(_tsa.Root)).Verified);
    }

    [Fact]
    public void AnExpiredSigningCertificateIsAcceptedAtItsTimestampAndOnlyThere()
    {
        using var pki = new SigningPki();
        var signedAt = s_now.AddDays(-30);
        using var leaf = pki.Leaf(_key, signedAt.AddMinutes(-5), signedAt.AddMinutes(5));
        var certificate = new Dictionary<string, string> { [CosignSignature.CertificateAnnotation] = leaf.ExportCertificatePem() };
        var signer = new CertificateSigner(null, [pki.Root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null);

        var (stampedInTime, _) = Signed(signature => _tsa.Annotation(signature, signedAt), certificate);
        var (stampedLate, _) = Signed(signature => _tsa.Annotation(signature, signedAt.AddHours(1)), certificate);
        var (unstamped, _) = Signed(null, certificate);

        var inTime = Verify(stampedInTime, signer, WithChain(_tsa.Root));
        var late = Verify(stampedLate, signer, WithChain(_tsa.Root));
        var now = Verify(unstamped, signer, WithChain(_tsa.Root));

        Assert.True(inTime.Verified, inTime.Reason);
        Assert.False(late.Verified);
        Assert.Contains("(at the RFC 3161 timestamp)", late.Reason, StringComparison.Ordinal);
        Assert.False(now.Verified);
        Assert.StartsWith("certificate:", now.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAttestationsTimestampIsOverItsEnvelope()
    {
        var statement = Encoding.UTF8.GetBytes(
            $$$"""{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example.test/review/v1","subject":[{"name":"registry.test/app","digest":{"sha256":"{{{Digest["sha256:".Length..]}}}"}}],"predicate":{"approved":true}}""");
        var pae = DsseEnvelope.PreAuthenticationEncoding(DsseEnvelope.InTotoPayloadType, statement);
        var signature = _key.SignData(pae, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var envelope = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["payloadType"] = DsseEnvelope.InTotoPayloadType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new[] { new Dictionary<string, string> { ["keyid"] = string.Empty, ["sig"] = Convert.ToBase64String(signature) } },
        });
        CosignSignature Layer(byte[] stamped) => new(envelope, new Dictionary<string, string> { [CosignSignature.TimestampAnnotation] = _tsa.Annotation(stamped, s_now.AddMinutes(-1)) });

        var overEnvelope = CosignAttestationVerifier.Verify([Layer(envelope)], Digest, "https://example.test/review/v1", Key, WithChain(_tsa.Root), new FakeTimeProvider(s_now));
        var overSignature = CosignAttestationVerifier.Verify([Layer(signature)], Digest, "https://example.test/review/v1", Key, WithChain(_tsa.Root), new FakeTimeProvider(s_now));

        Assert.True(overEnvelope.Verified, overEnvelope.Reason);
        Assert.False(overSignature.Verified);
        Assert.Equal("unable to verify RFC3161 timestamp: the timestamp is not over this signature", overSignature.Reason);
    }

    /// <summary>
    /// A real token (the Sigstore staging TSA's, from the conformance suite) against a chain that stops at the CA, as a
    /// <c>tsaCertChain</c> may: the leaf the token carries is used, because it chains to the configured CA.
    /// </summary>
    [Fact]
    public void ARealTokenVerifiesAgainstItsCaAloneThroughTheLeafItCarries()
    {
        var directory = Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify", "rekor2-happy-path");
        using var bundle = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "bundle.sigstore.json")));
        var token = Convert.FromBase64String(bundle.RootElement.GetProperty("verificationMaterial").GetProperty("timestampVerificationData")
            .GetProperty("rfc3161Timestamps")[0].GetProperty("signedTimestamp").GetString()!);
        var signature = Convert.FromBase64String(bundle.RootElement.GetProperty("messageSignature").GetProperty("signature").GetString()!);
        var authority = TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(directory, "trusted_root.json"))).TimestampAuthorities.Single();
        Assert.True(Rfc3161Timestamp.TryParse(token, out var timestamp, out var error), error);

        var caOnly = CertificateAuthority.ForTimestampChain([.. authority.Chain.Skip(1)]);
        var strictCaOnly = new CertificateAuthority("ca only, leaf required", [.. authority.Chain.Skip(1)], null, null);

        Assert.Null(timestamp.Verify(signature, [caOnly]));
        Assert.Equal("the timestamp was not signed by a trusted timestamp authority", timestamp.Verify(signature, [strictCaOnly]));
        Assert.Equal("the timestamp is not over this signature", timestamp.Verify([.. signature, 1], [caOnly]));
    }

    /// <summary>A CA for signing certificates (code-signing EKU), as <c>certificates.certChain</c> names one.</summary>
    private sealed class SigningPki : IDisposable
    {
        public SigningPki()
        {
            var request = new CertificateRequest("CN=Signing Root", RootKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            Root = request.CreateSelfSigned(s_now.AddYears(-3), s_now.AddYears(3));
        }

        public ECDsa RootKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public X509Certificate2 Root { get; }

        public X509Certificate2 Leaf(ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
        {
            var request = new CertificateRequest("CN=signer", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
            return request.Create(Root.SubjectName, X509SignatureGenerator.CreateForECDsa(RootKey), notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
        }

        public void Dispose()
        {
            Root.Dispose();
            RootKey.Dispose();
        }
    }
}

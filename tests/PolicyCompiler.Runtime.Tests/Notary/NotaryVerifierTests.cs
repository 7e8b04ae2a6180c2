using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Notary;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Notary;

/// <summary>
/// Notation signatures: the real envelopes of notation-go's test data (TestData/notation, see its NOTICE), and envelopes
/// made here with one requirement broken at a time.
/// </summary>
public sealed class NotaryVerifierTests
{
    private const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string RealDigest = "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
    private const string Digest = "sha256:2d4d2dd46e4a1d1a37f6ad0e51a4c0b4f41f4e2b7a5d13ba4f3d0c1b9f3e1a11";

    private static readonly NotaryArtifact s_realArtifact = new(DockerManifest, RealDigest, 528);
    private static readonly NotaryArtifact s_artifact = new(OciManifest, Digest, 1234);
    private static readonly DateTimeOffset s_now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    private static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "notation", name);

    private static X509Certificate2 Alpine { get; } = X509Certificate2.CreateFromPem(File.ReadAllText(Data("alpine-signing-cert.pem")));

    private static X509Certificate2 Unrelated { get; } = X509Certificate2.CreateFromPem(File.ReadAllText(Data("signing-cert.pem")));

    private static NotarySignature Jws(byte[] envelope) => new(NotaryVerifier.JwsMediaType, envelope, "sha256:" + new string('0', 64));

    private static NotarySignature Real(string name) => Jws(File.ReadAllBytes(Data(name)));

    [Theory]
    [InlineData("withoutTimestamp.sig")]
    [InlineData("jwsWithTimestamp.sig")]
    public void RealNotationSignaturesVerifyForTheirCertificateAndTheManifestTheyName(string name)
    {
        var check = NotaryVerifier.Verify(Real(name), s_realArtifact, [Alpine], s_now);
        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ATrustStoreOfSeveralCertificatesTrustsASignatureChainingToAnyOfThem()
    {
        // What a Notary attestor with several certificates in cert and certChain compiles to (Kyverno joins both).
        using var signer = new NotationTestSigner();
        var store = CertificateSigner.NotaryTrustStore([Unrelated, Alpine, signer.Root]).TrustStore;

        Assert.True(NotaryVerifier.Verify(Real("withoutTimestamp.sig"), s_realArtifact, store, s_now).Verified);
        var own = NotaryVerifier.Verify([Jws(signer.Sign(OciManifest, Digest, 1234))], s_artifact, store, DateTimeOffset.UtcNow);
        Assert.True(own.Verified, own.Reason);
        Assert.False(NotaryVerifier.Verify([Jws(signer.Sign(OciManifest, Digest, 1234))], s_artifact, [Unrelated, Alpine], DateTimeOffset.UtcNow).Verified);
    }

    [Fact]
    public void ARealSignatureIsRefusedForAnotherTrustStore()
    {
        var check = NotaryVerifier.Verify(Real("withoutTimestamp.sig"), s_realArtifact, [Unrelated], s_now);
        Assert.False(check.Verified);
        Assert.Contains("none of the attestor certificates", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DockerManifest, "sha256:d0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda", 528)]
    [InlineData(DockerManifest, RealDigest, 529)]
    [InlineData(OciManifest, RealDigest, 528)]
    public void ARealSignatureIsRefusedForAnotherManifestDescriptor(string mediaType, string digest, long size)
    {
        var check = NotaryVerifier.Verify(Real("withoutTimestamp.sig"), new NotaryArtifact(mediaType, digest, size), [Alpine], s_now);
        Assert.False(check.Verified);
        Assert.Contains("not the image's manifest", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ARealSignatureIsRefusedOnceItsCertificateHasExpired()
    {
        var check = NotaryVerifier.Verify(Real("jwsWithTimestamp.sig"), s_realArtifact, [Alpine], new DateTimeOffset(2033, 5, 11, 0, 0, 0, TimeSpan.Zero));
        Assert.False(check.Verified);
        Assert.Contains("is not valid now", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("payload")]
    [InlineData("protected")]
    [InlineData("signature")]
    public void ATamperedRealSignatureIsRefused(string field)
    {
        var node = JsonNode.Parse(File.ReadAllBytes(Data("withoutTimestamp.sig")))!;
        var text = node[field]!.GetValue<string>();
        if (field == "signature")
        {
            // One bit of the signature value.
            var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(text);
            bytes[10] ^= 1;
            node[field] = System.Buffers.Text.Base64Url.EncodeToString(bytes);
        }
        else
        {
            // The same JSON with a changed value, re-encoded: the digest's last hex digit, or the signing time's year.
            var json = Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(text));
            json = field == "payload" ? json.Replace("0bda\"", "0bdb\"", StringComparison.Ordinal) : json.Replace("2024-06-18", "2024-06-19", StringComparison.Ordinal);
            node[field] = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));
        }

        var check = NotaryVerifier.Verify(Jws(Encoding.UTF8.GetBytes(node.ToJsonString())), s_realArtifact, [Alpine], s_now);
        Assert.False(check.Verified);
        Assert.Equal(CosignKeyVerifier.InvalidSignature, check.Reason);
    }

    [Theory]
    [InlineData("payload")]
    [InlineData("protected")]
    public void AnEnvelopeWhoseTextIsNotUtf8IsRefusedWithAReason(string field)
    {
        // Found by the notary-envelope fuzz target: JsonDocument parses a string holding invalid UTF-8 and throws
        // InvalidOperationException only when it is read.
        var envelope = File.ReadAllBytes(Data("withoutTimestamp.sig"));
        var key = Encoding.UTF8.GetBytes($"\"{field}\":\"");
        var at = envelope.AsSpan().IndexOf(key) + key.Length;
        Assert.True(at >= key.Length);
        envelope[at + 3] = 0xC3;
        envelope[at + 4] = 0x28;

        var check = NotaryVerifier.Verify(Jws(envelope), s_realArtifact, [Alpine], s_now);

        Assert.False(check.Verified);
        Assert.StartsWith("invalid signature: the JWS envelope is malformed: ", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnInTotoStatementWithALoneSurrogateInItsPredicateIsRefusedWhereItIsRead()
    {
        var statement = """{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{"a":"\uD800"}}"""u8;

        Assert.False(InTotoStatement.TryParse(statement, out _, out var error));
        Assert.Equal("the in-toto statement holds a string that is not valid UTF-8 or Unicode", error);
    }

    [Fact]
    public void ARealSignatureWhoseChainIsSwappedIsRefused()
    {
        var node = JsonNode.Parse(File.ReadAllBytes(Data("withoutTimestamp.sig")))!;
        node["header"]!["x5c"] = new JsonArray(Convert.ToBase64String(Unrelated.RawData));
        var check = NotaryVerifier.Verify(Jws(Encoding.UTF8.GetBytes(node.ToJsonString())), s_realArtifact, [Unrelated], s_now);
        Assert.False(check.Verified);
    }

    [Fact]
    public void AThreeLevelChainVerifiesForItsRootItsIntermediateOrItsLeaf()
    {
        using var signer = new NotationTestSigner();
        var signature = Jws(signer.Sign(OciManifest, Digest, 1234));
        foreach (var trusted in new[] { signer.Root, signer.Intermediate, signer.Leaf })
        {
            var check = NotaryVerifier.Verify(signature, s_artifact, [Unrelated, trusted], DateTimeOffset.UtcNow);
            Assert.True(check.Verified, check.Reason);
        }
    }

    [Fact]
    public void NoSignatureIsSignatureNotFound()
    {
        Assert.Equal(CosignKeyVerifier.SignatureNotFound, NotaryVerifier.Verify([], s_artifact, [Alpine], s_now).Reason);
    }

    [Fact]
    public void OneGoodSignatureAmongBadOnesIsEnoughAndTheFirstFailureIsTheReasonOtherwise()
    {
        using var signer = new NotationTestSigner();
        var good = Jws(signer.Sign(OciManifest, Digest, 1234));
        var wrong = Jws(signer.Sign(OciManifest, Digest, 99));
        Assert.True(NotaryVerifier.Verify([wrong, good], s_artifact, [signer.Root], DateTimeOffset.UtcNow).Verified);
        var failed = NotaryVerifier.Verify([wrong, wrong], s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(failed.Verified);
        Assert.Contains("99 bytes", failed.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyTheFirstTenSignaturesAreTried()
    {
        using var signer = new NotationTestSigner();
        var wrong = Jws(signer.Sign(OciManifest, Digest, 99));
        var good = Jws(signer.Sign(OciManifest, Digest, 1234));
        var check = NotaryVerifier.Verify([.. Enumerable.Repeat(wrong, 10), good], s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(check.Verified);
        Assert.Contains("limit of 10 signatures", check.Reason, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BrokenEnvelopes => new()
    {
        { "cty", "cty" },
        { "crit-missing", "crit" },
        { "crit-unknown", "crit entry" },
        { "scheme", "signing scheme" },
        { "alg-mismatch", "not used with ES384" },
        { "alg-none", "alg 'none'" },
        { "no-signing-time", "io.cncf.notary.signingTime" },
        { "expiry-not-critical", "io.cncf.notary.expiry in crit" },
        { "expired", "expired at" },
        { "plugin", "verification plugin" },
        { "authority-time", "authentic signing time" },
        { "no-x5c", "x5c" },
        { "duplicate-alg", "malformed" },
        { "chain-order", "not issued by" },
        { "chain-no-root", "not self-signed" },
        { "payload", "targetArtifact" },
        { "envelope-type", "not supported" },
    };

    [Theory]
    [MemberData(nameof(BrokenEnvelopes))]
    public void EachRequirementOfTheSpecificationIsEnforced(string broken, string reason)
    {
        using var signer = new NotationTestSigner();
        var now = DateTimeOffset.UtcNow;
        string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture);
        byte[] envelope = broken switch
        {
            "cty" => signer.Sign(OciManifest, Digest, 1234, h => h["cty"] = "application/json"),
            "crit-missing" => signer.Sign(OciManifest, Digest, 1234, h => h.Remove("crit")),
            "crit-unknown" => signer.Sign(OciManifest, Digest, 1234, h => h["crit"] = new JsonArray("io.cncf.notary.signingScheme", "io.example.absent")),
            "scheme" => signer.Sign(OciManifest, Digest, 1234, h => h["io.cncf.notary.signingScheme"] = "notary.default.x509"),
            "alg-mismatch" => signer.Sign(OciManifest, Digest, 1234, h => h["alg"] = "ES384"),
            "alg-none" => signer.Sign(OciManifest, Digest, 1234, h => h["alg"] = "none"),
            "no-signing-time" => signer.Sign(OciManifest, Digest, 1234, h => h.Remove("io.cncf.notary.signingTime")),
            "expiry-not-critical" => signer.Sign(OciManifest, Digest, 1234, h => h["io.cncf.notary.expiry"] = Time(now.AddDays(1))),
            "expired" => signer.Sign(OciManifest, Digest, 1234, h =>
            {
                h["io.cncf.notary.expiry"] = Time(now.AddMinutes(-1));
                h["crit"] = new JsonArray("io.cncf.notary.signingScheme", "io.cncf.notary.expiry");
            }),
            "plugin" => signer.Sign(OciManifest, Digest, 1234, h => h["io.cncf.notary.verificationPlugin"] = "com.example.plugin"),
            "authority-time" => signer.Sign(OciManifest, Digest, 1234, h =>
            {
                h.Remove("io.cncf.notary.signingTime");
                h["io.cncf.notary.signingScheme"] = "notary.x509.signingAuthority";
                h["io.cncf.notary.authenticSigningTime"] = Time(now.AddYears(-3));
                h["crit"] = new JsonArray("io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime");
            }),
            "no-x5c" => signer.Sign(OciManifest, Digest, 1234, envelope: e => ((JsonObject)e["header"]!).Remove("x5c")),
            "duplicate-alg" => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(signer.Sign(OciManifest, Digest, 1234)).Replace("\"payload\":", "\"payload\":\"x\",\"payload\":", StringComparison.Ordinal)),
            "chain-order" => signer.Sign(OciManifest, Digest, 1234, envelope: e => e["header"]!["x5c"] = new JsonArray(
                Convert.ToBase64String(signer.Leaf.RawData), Convert.ToBase64String(signer.Root.RawData), Convert.ToBase64String(signer.Intermediate.RawData))),
            "chain-no-root" => signer.Sign(OciManifest, Digest, 1234, envelope: e => e["header"]!["x5c"] = new JsonArray(
                Convert.ToBase64String(signer.Leaf.RawData), Convert.ToBase64String(signer.Intermediate.RawData))),
            "payload" => signer.Sign(OciManifest, Digest, 1234, payload: p => p["targetArtifact"]!.AsObject().Remove("size")),
            "envelope-type" => signer.Sign(OciManifest, Digest, 1234),
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };

        var signature = broken == "envelope-type" ? new NotarySignature("application/pkcs7-signature", envelope, "sha256:" + new string('0', 64)) : Jws(envelope);
        var check = NotaryVerifier.Verify(signature, s_artifact, [signer.Root], now);
        Assert.False(check.Verified);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSameEnvelopeUnbrokenVerifiesSoTheCasesAboveFailForTheirOwnReason()
    {
        using var signer = new NotationTestSigner();
        var now = DateTimeOffset.UtcNow;
        var check = NotaryVerifier.Verify(Jws(signer.Sign(OciManifest, Digest, 1234, h =>
        {
            h["io.cncf.notary.expiry"] = now.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture);
            h["crit"] = new JsonArray("io.cncf.notary.signingScheme", "io.cncf.notary.expiry");
        })), s_artifact, [signer.Root], now);
        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ASigningCertificateThatIsACaIsRefused()
    {
        using var signer = new NotationTestSigner(leafIsCa: true);
        var check = NotaryVerifier.Verify(Jws(signer.Sign(OciManifest, Digest, 1234)), s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(check.Verified);
        Assert.Contains("is a CA", check.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// Kyverno's trust policy names no <c>tsa</c> trust store, so Notation skips timestamp verification: a timestamp
    /// countersignature (here a real RFC 3161 one, from a TSA nobody trusts) does not make an expired chain acceptable.
    /// </summary>
    [Fact]
    public void ATimestampCountersignatureDoesNotExtendTheChainsValidityAsNoTsaIsTrusted()
    {
        var now = DateTimeOffset.UtcNow;
        using var signer = new NotationTestSigner(notBefore: now.AddDays(-30), notAfter: now.AddDays(-1));
        using var tsa = new Infrastructure.TestTimestampAuthority(now.AddDays(-60), now.AddDays(60));
        var envelope = JsonNode.Parse(signer.Sign(OciManifest, Digest, 1234, h =>
            h["io.cncf.notary.signingTime"] = now.AddDays(-10).ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture)))!;
        var signatureBytes = System.Buffers.Text.Base64Url.DecodeFromChars((string)envelope["signature"]!);
        envelope["header"]!["io.cncf.notary.timestampSignature"] = Convert.ToBase64String(tsa.Stamp(signatureBytes, now.AddDays(-10)));
        var signature = Jws(Encoding.UTF8.GetBytes(envelope.ToJsonString()));

        var today = NotaryVerifier.Verify(signature, s_artifact, [signer.Root], now);
        Assert.False(today.Verified);
        Assert.Contains("is not valid now", today.Reason, StringComparison.Ordinal);

        // The same envelope while the chain was valid: only the time refuses it.
        Assert.True(NotaryVerifier.Verify(signature, s_artifact, [signer.Root], now.AddDays(-10)).Verified);
    }

    [Theory]
    [InlineData("io.cncf.notary.timestampSignature", "\"not base64!\"", "is not base64 bytes")]
    [InlineData("io.cncf.notary.timestampSignature", "42", "is not base64 bytes")]
    [InlineData("io.cncf.notary.signingAgent", "{}", "is not a string")]
    public void UnprotectedHeaderFieldsOfTheWrongTypeAreRefusedAsNotationsParserRefusesThem(string field, string json, string reason)
    {
        using var signer = new NotationTestSigner();
        var check = NotaryVerifier.Verify(Jws(signer.Sign(OciManifest, Digest, 1234, envelope: e => e["header"]![field] = JsonNode.Parse(json))), s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(check.Verified);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// Rekor bundles produced by the real cosign against the public rekor.sigstore.dev (containers/image fixtures):
/// the SignedEntryTimestamp must verify with the public-good log key and the entry must name this signature.
/// Expectations follow containers/image's signature/internal/rekor_set_test.go and the "Successful key+Rekor use" case.
/// </summary>
public sealed class RekorBundleTests
{
    private static readonly string[] s_rekorLogOnly = ["rekor.pub"];

    private static (CosignSignature Signature, RekorBundle Bundle) Fixture(string image)
    {
        var signature = CosignFixtures.Signatures(image)[0];
        Assert.True(RekorBundle.TryParse(signature.Annotations[CosignSignature.BundleAnnotation], out var bundle, out var error), error);
        return (signature, bundle);
    }

    private static byte[] Spki(string keyFile) => CosignFixtures.Key(keyFile).SubjectPublicKeyInfo.ToArray();

    private static IReadOnlyList<TransparencyLog> FixtureLog() =>
        s_rekorLogOnly.Select(f => TransparencyLog.FromKey("https://rekor.sigstore.dev", CosignFixtures.Key(f))).ToList();

    [Fact]
    public void KeyRekorBundleVerifiesWithThePublicGoodLogKey()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");

        var check = bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign2.pub"), TrustedRoot.PublicGood.TransparencyLogs);

        Assert.True(check.Verified, check.Reason);
        Assert.Equal(bundle.IntegratedTime, check.IntegratedTime.ToUnixTimeSeconds());
        Assert.Equal(bundle.LogIndex, check.LogIndex);
    }

    [Fact]
    public void KeyRekorBundleVerifiesWithTheFixtureRekorKey()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");

        Assert.True(bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign2.pub"), FixtureLog()).Verified);
    }

    [Fact]
    public void TheLogIdIsTheHashOfThePublicGoodRekorKey()
    {
        var (_, bundle) = Fixture("dir-img-cosign-key-rekor-valid");

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Spki("rekor.pub"))), bundle.LogId);
    }

    [Fact]
    public void AnotherSignerKeyIsRejected()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");

        var check = bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign.pub"), FixtureLog());

        Assert.False(check.Verified);
        Assert.Contains("another key or certificate", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherPayloadIsRejected()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");
        var otherPayload = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(signature.Payload).Replace("key-1", "key-2", StringComparison.Ordinal));

        var check = bundle.Verify(otherPayload, signature.SignatureBytes!, Spki("cosign2.pub"), FixtureLog());

        Assert.False(check.Verified);
        Assert.Contains("another payload", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherSignatureIsRejected()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");
        var other = CosignFixtures.Signatures("dir-img-cosign-valid")[0].SignatureBytes!;

        var check = bundle.Verify(signature.Payload, other, Spki("cosign2.pub"), FixtureLog());

        Assert.False(check.Verified);
        Assert.Contains("another signature", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ALogThatIsNotTrustedIsRejected()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-key-rekor-valid");
        var untrusted = new[] { TransparencyLog.FromKey("https://rekor.example", CosignFixtures.Key("cosign.pub")) };

        var check = bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign2.pub"), untrusted);

        Assert.False(check.Verified);
        Assert.Contains("not a trusted transparency log", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("integratedTime")]
    [InlineData("logIndex")]
    [InlineData("body")]
    public void ATamperedEntryFailsTheSignedEntryTimestamp(string field)
    {
        var signature = CosignFixtures.Signatures("dir-img-cosign-key-rekor-valid")[0];
        var json = JsonNode.Parse(signature.Annotations[CosignSignature.BundleAnnotation])!;
        var payload = json["Payload"]!;
        if (field == "body")
        {
            // A body that still names the same signature but re-encoded: the SET covers the exact base64 text.
            var body = Encoding.UTF8.GetString(Convert.FromBase64String(payload["body"]!.GetValue<string>()));
            payload["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(body + " "));
        }
        else
        {
            payload[field] = payload[field]!.GetValue<long>() + 1;
        }

        Assert.True(RekorBundle.TryParse(json.ToJsonString(), out var bundle, out _));
        var check = bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign2.pub"), FixtureLog());

        Assert.False(check.Verified);
        Assert.Contains("SignedEntryTimestamp does not verify", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CanonicalPayloadOrdersKeysAsRfc8785()
    {
        var (_, bundle) = Fixture("dir-img-cosign-key-rekor-valid");
        var canonical = Encoding.UTF8.GetString(bundle.CanonicalPayload());

        Assert.StartsWith("{\"body\":\"", canonical, StringComparison.Ordinal);
        Assert.True(canonical.IndexOf("\"integratedTime\":", StringComparison.Ordinal) < canonical.IndexOf("\"logID\":", StringComparison.Ordinal));
        Assert.True(canonical.IndexOf("\"logID\":", StringComparison.Ordinal) < canonical.IndexOf("\"logIndex\":", StringComparison.Ordinal));
        Assert.DoesNotContain(" ", canonical, StringComparison.Ordinal);
    }

    [Fact]
    public void FulcioBundleNamesTheSigningCertificate()
    {
        var (signature, bundle) = Fixture("dir-img-cosign-fulcio-rekor-valid");
        var certificatePem = signature.Annotations[CosignSignature.CertificateAnnotation];
        var certificateDer = Convert.FromBase64String(certificatePem[PemEncoding.Find(certificatePem).Base64Data]);

        Assert.True(bundle.Verify(signature.Payload, signature.SignatureBytes!, certificateDer, TrustedRoot.PublicGood.TransparencyLogs).Verified);
        Assert.False(bundle.Verify(signature.Payload, signature.SignatureBytes!, Spki("cosign.pub"), TrustedRoot.PublicGood.TransparencyLogs).Verified);
    }

    [Fact]
    public void StandaloneRekorSetFixtureVerifies()
    {
        // containers/image signature/internal/rekor_set_test.go: rekor-set over rekor-payload, rekor-sig and rekor-cert.
        var set = File.ReadAllText(Path.Combine(CosignFixtures.Root, "rekor-set"));
        var payload = File.ReadAllBytes(Path.Combine(CosignFixtures.Root, "rekor-payload"));
        var signatureBytes = Convert.FromBase64String(File.ReadAllText(Path.Combine(CosignFixtures.Root, "rekor-sig")).Trim());
        var certificatePem = File.ReadAllText(Path.Combine(CosignFixtures.Root, "rekor-cert"));
        var certificateDer = Convert.FromBase64String(certificatePem[PemEncoding.Find(certificatePem).Base64Data]);

        Assert.True(RekorBundle.TryParse(set, out var bundle, out var error), error);
        var check = bundle.Verify(payload, signatureBytes, certificateDer, FixtureLog());

        Assert.True(check.Verified, check.Reason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("{\"SignedEntryTimestamp\":\"!!\",\"Payload\":{\"body\":\"e30=\",\"integratedTime\":1,\"logIndex\":1,\"logID\":\"00\"}}")]
    [InlineData("{\"SignedEntryTimestamp\":\"AA==\",\"Payload\":{\"body\":\"e30=\",\"integratedTime\":\"1\",\"logIndex\":1,\"logID\":\"00\"}}")]
    public void MalformedBundlesAreRejectedWithAReason(string json)
    {
        Assert.False(RekorBundle.TryParse(json, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void PublicGoodRootHasTheRekorAndFulcioMaterial()
    {
        var root = TrustedRoot.PublicGood;

        Assert.Contains(root.TransparencyLogs, log => log.BaseUrl == "https://rekor.sigstore.dev");
        Assert.Equal(2, root.CertificateAuthorities.Count);
        Assert.NotEmpty(root.CertificateTransparencyLogs);
    }
}

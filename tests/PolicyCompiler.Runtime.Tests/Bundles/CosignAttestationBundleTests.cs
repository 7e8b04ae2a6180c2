using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>
/// The real cosign v0.3 attestation bundle (TestData/cosign, see its NOTICE.md): a Fulcio certificate for
/// cody@soyland.com through GitHub's OAuth issuer, a DSSE envelope with an in-toto v0.1 statement about the empty
/// image sha256:732112270d…, and a production Rekor dsse entry — verified against the public-good trusted root.
/// </summary>
public sealed class CosignAttestationBundleTests
{
    private const string Subject = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    private const string Identity = "cody@soyland.com";
    private const string Issuer = "https://github.com/login/oauth";

    private static readonly DateTimeOffset s_integratedTime = DateTimeOffset.FromUnixTimeSeconds(1740770291);

    private static byte[] Bundle { get; } = File.ReadAllBytes(Path.Combine(SigstoreConformanceTests.TestData, "cosign", "oci-attestation.sigstore.json"));

    private static TrustedRoot PublicGood { get; } = TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(SigstoreConformanceTests.TestData, "sigstore-public-good", "trusted_root.json")));

    private static KeylessSigner Keyless(string subject = Identity, string issuer = Issuer) =>
        new(new KeylessIdentity(subject, null, issuer, null, null), roots: null, ignoreSct: false, ctLogs: null);

    private static SigstoreBundleCheck Verify(byte[] bundle, string subject = Subject, SignerPolicy? signer = null, TrustedRoot? root = null) =>
        SigstoreBundleVerifier.Verify(bundle, BundleArtifact.FromDigest(subject), signer ?? Keyless(), root ?? PublicGood, new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));

    [Fact]
    public void VerifiesWithThePublicGoodRootAndReturnsTheStatement()
    {
        var result = Verify(Bundle);

        Assert.True(result.Verified, result.Reason);
        Assert.Equal("verified", result.Reason);
        Assert.Equal(s_integratedTime, result.SigningTime);
        var timestamp = Assert.Single(result.Timestamps);
        Assert.Equal(TimestampSource.TransparencyLog, timestamp.Source);
        Assert.Equal("https://rekor.sigstore.dev", timestamp.Uri);
        Assert.NotNull(result.Statement);
        Assert.Equal("https://cosign.sigstore.dev/attestation/v1", result.Statement.PredicateType);
        Assert.True(result.Statement.IsAbout(Subject));
        Assert.Equal("{\"foo\": \"bar\"}\n", result.Statement.Predicate.GetProperty("Data").GetString());
        Assert.Equal(Identity, FulcioCertificate.Read(result.Certificate!).Subjects.Single());
    }

    [Fact]
    public void TheBuiltInPublicGoodRootVerifiesItToo()
    {
        var result = Verify(Bundle, root: TrustedRoot.PublicGood);

        Assert.True(result.Verified, result.Reason);
    }

    [Fact]
    public void TheCertificateHasLongExpiredButWasValidAtItsIntegratedTime()
    {
        var certificate = Verify(Bundle).Certificate!;

        Assert.True(certificate.NotAfter.ToUniversalTime() < new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.InRange(s_integratedTime.UtcDateTime, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime());
    }

    [Fact]
    public void AnotherSubjectDigestFails()
    {
        var result = Verify(Bundle, subject: "sha256:" + new string('0', 64));

        Assert.False(result.Verified);
        Assert.Equal("invalid attestation: the statement's subject does not name sha256:" + new string('0', 64), result.Reason);
    }

    [Fact]
    public void AnotherIdentityFails()
    {
        var result = Verify(Bundle, signer: Keyless(subject: "mallory@example.com"));

        Assert.False(result.Verified);
        Assert.StartsWith("certificate: subject mismatch: expected mallory@example.com, got cody@soyland.com", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherIssuerFails()
    {
        var result = Verify(Bundle, signer: Keyless(issuer: "https://accounts.google.com"));

        Assert.False(result.Verified);
        Assert.Equal("certificate: issuer mismatch: expected https://accounts.google.com, got https://github.com/login/oauth", result.Reason);
    }

    [Fact]
    public void AWildcardIdentityMatchesAsKyvernoMatchesIt()
    {
        Assert.True(Verify(Bundle, signer: Keyless(subject: "*@soyland.com")).Verified);
        Assert.False(Verify(Bundle, signer: Keyless(subject: "*@example.com")).Verified);
    }

    [Fact]
    public void AManagedKeyPolicyDoesNotAcceptTheKeylessSignatureOfAnotherKey()
    {
        using var other = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var result = Verify(Bundle, signer: new StaticKeySigner(VerificationKey.FromPem(other.ExportSubjectPublicKeyInfoPem())));

        Assert.False(result.Verified);
        Assert.Equal("invalid signature", result.Reason);
    }

    [Fact]
    public void ARootWithoutTheProductionRekorFindsNoTrustedLogEntry()
    {
        var staging = TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify", "rekor2-happy-path", "trusted_root.json")));

        var result = Verify(Bundle, root: staging);

        Assert.False(result.Verified);
        Assert.Equal("transparency log: no entry of the bundle comes from a trusted transparency log", result.Reason);
    }

    [Fact]
    public void AnAlteredStatementNoLongerMatchesTheSignature()
    {
        var bundle = JsonNode.Parse(Bundle)!;
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(bundle["dsseEnvelope"]!["payload"]!.GetValue<string>()));
        bundle["dsseEnvelope"]!["payload"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload.Replace("bar", "baz", StringComparison.Ordinal)));

        var result = Verify(Encoding.UTF8.GetBytes(bundle.ToJsonString()));

        Assert.False(result.Verified);
        Assert.Equal("invalid signature", result.Reason);
    }

    [Fact]
    public void AnAlteredIntegratedTimeBreaksTheSignedEntryTimestamp()
    {
        var bundle = JsonNode.Parse(Bundle)!;
        var entry = bundle["verificationMaterial"]!["tlogEntries"]![0]!;
        entry["integratedTime"] = (long.Parse(entry["integratedTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) - 3600).ToString(System.Globalization.CultureInfo.InvariantCulture);

        var result = Verify(Encoding.UTF8.GetBytes(bundle.ToJsonString()));

        Assert.False(result.Verified);
        Assert.Equal("transparency log: the entry's SignedEntryTimestamp does not verify with the log key", result.Reason);
    }

    [Fact]
    public void TheSigningCertificateIsTheBundles()
    {
        var bundle = JsonNode.Parse(Bundle)!;
        var der = Convert.FromBase64String(bundle["verificationMaterial"]!["certificate"]!["rawBytes"]!.GetValue<string>());

        Assert.Equal(X509CertificateLoader.LoadCertificate(der).Thumbprint, Verify(Bundle).Certificate!.Thumbprint);
    }
}

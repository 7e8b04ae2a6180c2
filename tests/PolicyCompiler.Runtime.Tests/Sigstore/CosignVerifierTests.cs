using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// The full cosign verification (signer, payload, annotations, Rekor bundle, certificate at signing time) on the
/// real cosign fixtures: the keyless one signed through the public Fulcio and Rekor in December 2022, the private PKI
/// one, and the key + Rekor one. Expectations from containers/image's policy_eval_sigstore_test.go
/// ("Successful Fulcio certificate use", "Successful PKI certificate use", "Successful key+Rekor use").
/// </summary>
public sealed class CosignVerifierTests
{
    private const string FulcioImage = "dir-img-cosign-fulcio-rekor-valid";
    private const string FulcioSubject = "mitr@redhat.com";
    private const string FulcioIssuer = "https://github.com/login/oauth";

    private static readonly FakeTimeProvider s_now = new(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero));

    private static SignatureCheck Verify(string image, SignerPolicy signer, SignatureRequirements requirements) =>
        CosignVerifier.Verify(CosignFixtures.Signatures(image), CosignFixtures.ManifestDigest(image), signer, requirements, s_now);

    private static SignatureRequirements WithTlog() => new() { Tlog = TransparencyLogPolicy.TrustedRootLogs };

    private static KeylessSigner Keyless(string? subject = FulcioSubject, string? issuer = FulcioIssuer, Regex? subjectRegex = null, IReadOnlyDictionary<string, string>? extensions = null, bool ignoreSct = false) =>
        new(new KeylessIdentity(subject, subjectRegex, issuer, null, extensions), roots: null, ignoreSct, ctLogs: null);

    private static List<X509Certificate2> Pem(string file)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(Path.Combine(CosignFixtures.Root, file));
        return [.. collection];
    }

    [Fact]
    public void KeylessSignatureVerifiesAtItsIntegratedTimeLongAfterTheCertificateExpired()
    {
        var check = Verify(FulcioImage, Keyless(), WithTlog());

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void KeylessWithoutTheTransparencyLogIsJudgedNowAndTheShortLivedCertificateHasExpired()
    {
        var check = Verify(FulcioImage, Keyless(), SignatureRequirements.None);

        Assert.False(check.Verified);
        Assert.Contains("was not valid at", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("*@redhat.com", FulcioIssuer, true)]
    [InlineData("someone@redhat.com", FulcioIssuer, false)]
    [InlineData(FulcioSubject, "https://accounts.google.com", false)]
    [InlineData(null, FulcioIssuer, true)]
    public void KeylessIdentityIsMatched(string? subject, string issuer, bool expected)
    {
        var check = Verify(FulcioImage, Keyless(subject, issuer), WithTlog());

        Assert.Equal(expected, check.Verified);
        if (!expected)
        {
            Assert.Contains("mismatch", check.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void KeylessSubjectRegexIsMatched()
    {
        Assert.True(Verify(FulcioImage, Keyless(subject: null, subjectRegex: new Regex("^mitr@redhat\\.com$")), WithTlog()).Verified);
        Assert.False(Verify(FulcioImage, Keyless(subject: null, subjectRegex: new Regex("^other@")), WithTlog()).Verified);
    }

    [Fact]
    public void KeylessRequiresExtensionsThatArePresent()
    {
        var check = Verify(FulcioImage, Keyless(extensions: new Dictionary<string, string> { ["githubWorkflowTrigger"] = "push" }), WithTlog());

        Assert.False(check.Verified);
        Assert.Contains("githubWorkflowTrigger is not present", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KeylessFailsWhenTheRekorKeyIsNotTrusted()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.example", CosignFixtures.Key("cosign.pub")) };

        var check = Verify(FulcioImage, Keyless(), requirements);

        Assert.False(check.Verified);
        Assert.Contains("transparency log", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KeylessFailsWithOtherFulcioRoots()
    {
        var otherRoots = Pem("pki_root_crts.pem");
        var signer = new KeylessSigner(new KeylessIdentity(FulcioSubject, null, FulcioIssuer, null, null), otherRoots, ignoreSct: false, ctLogs: null);

        var check = Verify(FulcioImage, signer, WithTlog());

        Assert.False(check.Verified);
        Assert.Equal("certificate: the certificate does not chain to a trusted root: the chain ends at a root that is not trusted", check.Reason);
    }

    [Fact]
    public void KeylessWithTheFixtureFulcioRootVerifies()
    {
        var signer = new KeylessSigner(new KeylessIdentity(FulcioSubject, null, FulcioIssuer, null, null), Pem("fulcio_v1.crt.pem"), ignoreSct: false, ctLogs: null);

        Assert.True(Verify(FulcioImage, signer, WithTlog()).Verified);
    }

    [Fact]
    public void KeylessSctMustComeFromATrustedCtLog()
    {
        var untrustedCt = new[] { TransparencyLog.FromKey("https://ct.example", CosignFixtures.Key("cosign.pub")) };
        var signer = new KeylessSigner(new KeylessIdentity(FulcioSubject, null, FulcioIssuer, null, null), null, ignoreSct: false, untrustedCt);

        var check = Verify(FulcioImage, signer, WithTlog());

        Assert.False(check.Verified);
        Assert.Contains("SCT", check.Reason, StringComparison.Ordinal);
        Assert.True(Verify(FulcioImage, new KeylessSigner(new KeylessIdentity(FulcioSubject, null, FulcioIssuer, null, null), null, ignoreSct: true, untrustedCt), WithTlog()).Verified);
    }

    [Fact]
    public void FulcioCertificateIdentityIsRead()
    {
        var signature = CosignFixtures.Signatures(FulcioImage)[0];
        var certificate = X509Certificate2.CreateFromPem(signature.Annotations[CosignSignature.CertificateAnnotation]);

        var identity = FulcioCertificate.Read(certificate);

        Assert.Equal([FulcioSubject], identity.Subjects);
        Assert.Equal(FulcioIssuer, identity.Issuer);
    }

    [Fact]
    public void PkiSignatureVerifiesAgainstTheRootsAndIntermediatesWhenSctsAreIgnored()
    {
        var chain = Pem("pki_root_crts.pem").Concat(Pem("pki_intermediate_crts.pem")).ToList();

        var check = Verify("dir-img-cosign-pki-valid", new CertificateSigner(null, chain, HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null), SignatureRequirements.None);

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void PkiSignatureFailsByDefaultBecauseItsCertificateWasNeverLogged()
    {
        // A private CA's leaf without an SCT list. Kyverno leaves cosign's IgnoreSCT false when certificates has no
        // ctlog block, and cosign refuses it ("certificate does not include required embedded SCT"): so do we.
        var chain = Pem("pki_root_crts.pem").Concat(Pem("pki_intermediate_crts.pem")).ToList();

        var check = Verify("dir-img-cosign-pki-valid", new CertificateSigner(null, chain, HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null), SignatureRequirements.None);

        Assert.False(check.Verified);
        Assert.Contains("the certificate has no embedded SCT", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PkiSignatureFailsAgainstOtherRoots()
    {
        var check = Verify("dir-img-cosign-pki-valid", new CertificateSigner(null, Pem("fulcio_v1.crt.pem"), HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null), SignatureRequirements.None);

        Assert.False(check.Verified);
        Assert.Contains("does not chain", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PkiSignatureVerifiesUnderThePinnedCertificateAndNotUnderAnother()
    {
        var pinned = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(CosignFixtures.Root, "pki-cert")));
        var other = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(CosignFixtures.Root, "fulcio-cert")));

        Assert.True(Verify("dir-img-cosign-pki-valid", new CertificateSigner(pinned, [], HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null), SignatureRequirements.None).Verified);
        var check = Verify("dir-img-cosign-pki-valid", new CertificateSigner(other, [], HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null), SignatureRequirements.None);
        Assert.False(check.Verified);
        Assert.Contains("another certificate", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyWithRekorBundleVerifiesWhenTheLogIsRequired()
    {
        var check = Verify("dir-img-cosign-key-rekor-valid", new StaticKeySigner(CosignFixtures.Key("cosign2.pub")), WithTlog());

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void KeyWithoutRekorBundleFailsWhenTheLogIsRequired()
    {
        var check = Verify("dir-img-cosign-valid", new StaticKeySigner(CosignFixtures.Key("cosign.pub")), WithTlog());

        Assert.False(check.Verified);
        Assert.StartsWith("no transparency log entry", check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("creator", "containers/image 5.21.2-dev", true)]
    [InlineData("creator", "someone else", false)]
    [InlineData("absent", "x", false)]
    public void AnnotationsMustBeInThePayloadsOptionalMap(string key, string value, bool expected)
    {
        var requirements = new SignatureRequirements { Annotations = new Dictionary<string, string> { [key] = value } };

        var check = Verify("dir-img-cosign-valid-with-tag", new StaticKeySigner(CosignFixtures.Key("cosign.pub")), requirements);

        Assert.Equal(expected, check.Verified);
        if (!expected)
        {
            Assert.StartsWith("annotations mismatch", check.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TbsWithoutSctListDropsOnlyThatExtension()
    {
        var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(CosignFixtures.Root, "fulcio-cert")));

        var tbs = SignedCertificateTimestamps.TbsWithoutSctList(certificate.RawData);

        Assert.True(tbs.Length < certificate.RawData.Length);
        Assert.Equal(0x30, tbs[0]);
    }
}

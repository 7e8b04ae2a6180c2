using System.Diagnostics;
using PolicyCompiler.Runtime.Notary;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Notary;

/// <summary>
/// Revocation as Notation checks it at level strict: each certificate of the signature's chain but the root, by OCSP
/// (falling back to the CRL when OCSP gives no answer) or by CRL, against a test double of the CA's OCSP responder and
/// CRL distribution point answering real OCSP and CRL bytes over loopback HTTP.
/// </summary>
public sealed class NotaryRevocationTests
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string Digest = "sha256:2d4d2dd46e4a1d1a37f6ad0e51a4c0b4f41f4e2b7a5d13ba4f3d0c1b9f3e1a11";
    private static readonly NotaryArtifact s_artifact = new(OciManifest, Digest, 1234);

    private static NotarySignature Jws(byte[] envelope) => new(NotaryVerifier.JwsMediaType, envelope, "sha256:" + new string('0', 64));

    private static async Task<SignatureCheck> VerifyAsync(TestRevocationAuthority authority, NotationTestSigner signer, bool cose = false)
    {
        using var revocation = new NotaryRevocation();
        var signature = cose
            ? new NotarySignature(NotaryVerifier.CoseMediaType, signer.SignCose(OciManifest, Digest, 1234), "sha256:" + new string('1', 64))
            : Jws(signer.Sign(OciManifest, Digest, 1234));
        return await NotaryVerifier.VerifyAsync([signature], s_artifact, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
    }

    [Fact]
    public async Task AGoodOcspAnswerLetsTheSignatureVerifyAndARevokedOneFailsIt()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out var serial);

        var good = await VerifyAsync(authority, signer);
        Assert.True(good.Verified, good.Reason);
        Assert.Contains("GET /intermediate/ocsp", authority.Requests);

        authority.Revoked[serial] = true;
        var revoked = await VerifyAsync(authority, signer);
        Assert.False(revoked.Verified);
        Assert.Contains($"'{signer.Leaf.Subject}' is revoked (OCSP: revoked at", revoked.Reason, StringComparison.Ordinal);
        Assert.False(revoked.MayChange);

        // The same check for a COSE envelope: revocation belongs to the chain, not the envelope format.
        var cose = await VerifyAsync(authority, signer, cose: true);
        Assert.False(cose.Verified);
        Assert.Contains("is revoked", cose.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGoodCrlLetsTheSignatureVerifyAndOneListingTheLeafFailsIt()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([], [authority.Url("intermediate/crl")], out var serial);
        authority.Revoked[serial + 1000] = true;

        var good = await VerifyAsync(authority, signer);
        Assert.True(good.Verified, good.Reason);
        Assert.Equal(["GET /intermediate/crl"], authority.Requests);

        authority.Revoked[serial] = true;
        var revoked = await VerifyAsync(authority, signer);
        Assert.False(revoked.Verified);
        Assert.Contains($"'{signer.Leaf.Subject}' is revoked (CRL {authority.Url("intermediate/crl")}: revoked at", revoked.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableResponderMakesTheStatusUnknownWhichStrictRefuses()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([TestRevocationAuthority.Unreachable("ocsp")], [], out _);

        var check = await VerifyAsync(authority, signer);

        Assert.False(check.Verified);
        Assert.Contains($"the revocation status of the certificate '{signer.Leaf.Subject}' is unknown", check.Reason, StringComparison.Ordinal);
        Assert.Contains("unreachable", check.Reason, StringComparison.Ordinal);
        Assert.True(check.MayChange, "a status that could not be learnt must not be kept as a verdict");
    }

    [Fact]
    public async Task WhenOcspGivesNoAnswerTheCrlDecides()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([TestRevocationAuthority.Unreachable("ocsp")], [authority.Url("intermediate/crl")], out var serial);

        var good = await VerifyAsync(authority, signer);
        Assert.True(good.Verified, good.Reason);

        authority.Revoked[serial] = true;
        var revoked = await VerifyAsync(authority, signer);
        Assert.False(revoked.Verified);
        Assert.Contains("is revoked (CRL", revoked.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AResponderThatDoesNotKnowTheCertificateFallsBackToTheCrlOrFails()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        authority.Ocsp = RevocationAnswer.UnknownStatus;
        using var withCrl = authority.IssueSigner([authority.Url("intermediate/ocsp")], [authority.Url("intermediate/crl")], out _);
        using var ocspOnly = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out _);

        var fallback = await VerifyAsync(authority, withCrl);
        Assert.True(fallback.Verified, fallback.Reason);
        Assert.Contains("GET /intermediate/crl", authority.Requests);

        var unknown = await VerifyAsync(authority, ocspOnly);
        Assert.False(unknown.Verified);
        Assert.Contains("does not know the certificate", unknown.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(RevocationAnswer.Malformed, "the answer is not an OCSP response")]
    [InlineData(RevocationAnswer.ServerError, "the responder answered HTTP 500")]
    [InlineData(RevocationAnswer.WrongSigner, "the OCSP answer is not signed by the certificate's issuer")]
    public async Task AnOcspAnswerThatCannotBeTrustedMakesTheStatusUnknown(RevocationAnswer fault, string reason)
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        authority.Ocsp = fault;
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out _);

        var check = await VerifyAsync(authority, signer);

        Assert.False(check.Verified);
        Assert.Contains("is unknown", check.Reason, StringComparison.Ordinal);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(RevocationAnswer.Malformed, "the CRL is malformed")]
    [InlineData(RevocationAnswer.ServerError, "the distribution point answered HTTP 500")]
    [InlineData(RevocationAnswer.WrongSigner, "the CRL is not signed by")]
    public async Task ACrlThatCannotBeTrustedMakesTheStatusUnknown(RevocationAnswer fault, string reason)
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        authority.Crl = fault;
        using var signer = authority.IssueSigner([], [authority.Url("intermediate/crl")], out _);

        var check = await VerifyAsync(authority, signer);

        Assert.False(check.Verified);
        Assert.Contains("is unknown", check.Reason, StringComparison.Ordinal);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASlowResponderIsGivenNotationsTwoSeconds()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        authority.Ocsp = RevocationAnswer.Slow;
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out _);

        var clock = Stopwatch.StartNew();
        var check = await VerifyAsync(authority, signer);
        clock.Stop();

        Assert.False(check.Verified);
        Assert.Contains("no answer within 2 s", check.Reason, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task OnlyHttpEndpointsAreUsedAsNotationUsesThem()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp").Replace("http:", "https:", StringComparison.Ordinal)], [], out _);

        var check = await VerifyAsync(authority, signer);

        Assert.False(check.Verified);
        Assert.Contains("only http OCSP responders are used", check.Reason, StringComparison.Ordinal);
        Assert.Empty(authority.Requests);
    }

    [Fact]
    public async Task AChainThatNamesNoEndpointIsNotCheckedAsNotationDoesNot()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([], [], out var serial);
        authority.Revoked[serial] = true;

        var check = await VerifyAsync(authority, signer);

        Assert.True(check.Verified, check.Reason);
        Assert.Empty(authority.Requests);
    }

    [Fact]
    public async Task ARevokedIntermediateFailsTheSignatureThroughTheRootsCrl()
    {
        await using var authority = await TestRevocationAuthority.StartAsync(intermediateEndpoints: true);
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out _);

        var good = await VerifyAsync(authority, signer);
        Assert.True(good.Verified, good.Reason);
        Assert.Contains("GET /root/ocsp", authority.Requests);
        Assert.Contains("GET /intermediate/ocsp", authority.Requests);

        authority.Revoked[0x10] = true;
        authority.Ocsp = RevocationAnswer.ServerError;
        authority.Crl = RevocationAnswer.Real;
        var revoked = await VerifyAsync(authority, signer);
        Assert.False(revoked.Verified);
        Assert.Contains($"'{authority.Intermediate.Subject}' is revoked (CRL", revoked.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASignatureForAnotherImageFailsWithoutAskingTheResponder()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [authority.Url("intermediate/crl")], out _);
        using var revocation = new NotaryRevocation();

        var check = await NotaryVerifier.VerifyAsync([Jws(signer.Sign(OciManifest, Digest, 1234))], s_artifact with { Size = 99 }, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);

        Assert.False(check.Verified);
        Assert.Contains("not the image's manifest", check.Reason, StringComparison.Ordinal);
        Assert.Empty(authority.Requests);
    }

    [Fact]
    public async Task ANotationAttestationSignedByARevokedCertificateDoesNotVouch()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([authority.Url("intermediate/ocsp")], [], out var serial);
        using var revocation = new NotaryRevocation();
        const string Type = "application/vnd.cyclonedx+json";
        var descriptor = new NotaryArtifact(OciManifest, Digest, 1234);
        var statement = NotaryAttestationStore.Statement(Type, """{"bomFormat":"CycloneDX"}"""u8.ToArray(), out _);
        NotaryAttestation Attestation() => new(Digest, descriptor, [Jws(signer.Sign(OciManifest, Digest, 1234))], statement, null);

        var good = await NotaryAttestationStore.VerifyAsync([Attestation()], Type, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
        Assert.True(good.Verified, good.Reason);

        authority.Revoked[serial] = true;
        var revoked = await NotaryAttestationStore.VerifyAsync([Attestation()], Type, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
        Assert.False(revoked.Verified);
        Assert.Contains("is revoked", revoked.Reason, StringComparison.Ordinal);
        Assert.False(revoked.MayChange);

        authority.Ocsp = RevocationAnswer.ServerError;
        var outage = await NotaryAttestationStore.VerifyAsync([Attestation()], Type, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
        Assert.False(outage.Verified);
        Assert.Contains("is unknown", outage.Reason, StringComparison.Ordinal);
        Assert.True(outage.MayChange);
    }

    /// <summary>
    /// A signing authority's signing time is authentic, so a certificate whose key became untrustworthy (the CRL entry's
    /// invalidity date) only after it signed still vouches for that signature; under notary.x509 the revocation counts.
    /// </summary>
    [Fact]
    public async Task ARevocationInvalidOnlyAfterAnAuthenticSigningTimeDoesNotCount()
    {
        await using var authority = await TestRevocationAuthority.StartAsync();
        using var signer = authority.IssueSigner([], [authority.Url("intermediate/crl")], out var serial);
        authority.Revoked[serial] = true;
        authority.InvalidFrom[serial] = DateTime.UtcNow.AddMinutes(-30);
        using var revocation = new NotaryRevocation();
        var signedAt = DateTimeOffset.UtcNow.AddHours(-2).ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture);
        NotarySignature SigningAuthority() => Jws(signer.Sign(OciManifest, Digest, 1234, h =>
        {
            h["io.cncf.notary.signingScheme"] = "notary.x509.signingAuthority";
            h.Remove("io.cncf.notary.signingTime");
            h["io.cncf.notary.authenticSigningTime"] = signedAt;
            h["crit"] = new System.Text.Json.Nodes.JsonArray("io.cncf.notary.signingScheme", "io.cncf.notary.authenticSigningTime");
        }));

        var before = await NotaryVerifier.VerifyAsync([SigningAuthority()], s_artifact, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
        Assert.True(before.Verified, before.Reason);

        var x509 = await VerifyAsync(authority, signer);
        Assert.False(x509.Verified);
        Assert.Contains("is revoked (CRL", x509.Reason, StringComparison.Ordinal);

        // Invalid before the authentic signing time: revoked for that signature too.
        authority.InvalidFrom[serial] = DateTime.UtcNow.AddHours(-3);
        var after = await NotaryVerifier.VerifyAsync([SigningAuthority()], s_artifact, [authority.Root], DateTimeOffset.UtcNow, revocation, CancellationToken.None);
        Assert.False(after.Verified);
        Assert.Contains("is revoked (CRL", after.Reason, StringComparison.Ordinal);
    }
}

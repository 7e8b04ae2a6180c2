using System.Text;
using PolicyCompiler.Runtime.Notary;

namespace PolicyCompiler.Runtime.Tests.Notary;

/// <summary>
/// Notation attestations as Kyverno reads them: a referrer of the attestation's artifact type, vouched for by its own
/// Notation signature (which names the attestation's manifest, not the image), its one layer the predicate.
/// </summary>
public sealed class NotaryAttestationTests
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string Type = "application/vnd.cyclonedx+json";
    private const string ImageDigest = "sha256:2d4d2dd46e4a1d1a37f6ad0e51a4c0b4f41f4e2b7a5d13ba4f3d0c1b9f3e1a11";

    private static readonly NotaryArtifact s_attestationManifest = new(OciManifest, "sha256:" + new string('a', 64), 612);

    private static NotaryAttestation Attestation(NotationTestSigner? signer, string predicate = """{"bomFormat":"CycloneDX","components":[]}""", NotaryArtifact? signed = null, bool cose = false)
    {
        var target = signed ?? s_attestationManifest;
        var signatures = new List<NotarySignature>();
        if (signer is not null)
        {
            signatures.Add(cose
                ? new NotarySignature(NotaryVerifier.CoseMediaType, signer.SignCose(target.MediaType, target.Digest, target.Size), "sha256:" + new string('b', 64))
                : new NotarySignature(NotaryVerifier.JwsMediaType, signer.Sign(target.MediaType, target.Digest, target.Size), "sha256:" + new string('b', 64)));
        }

        var statement = NotaryAttestationStore.Statement(Type, Encoding.UTF8.GetBytes(predicate), out var problem);
        return new NotaryAttestation(s_attestationManifest.Digest, s_attestationManifest, signatures, statement, problem);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnAttestationSignedByATrustedChainVouchesForItsPredicate(bool cose)
    {
        using var signer = new NotationTestSigner();
        var check = await NotaryAttestationStore.VerifyAsync([Attestation(signer, cose: cose)], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None);

        Assert.True(check.Verified, check.Reason);
        var statement = Assert.Single(check.Statements);
        Assert.Equal(Type, statement.PredicateType);
        Assert.Equal(Type, statement.Statement.GetProperty("type").GetString());
        Assert.Equal("CycloneDX", statement.Predicate.GetProperty("bomFormat").GetString());
    }

    [Fact]
    public async Task AnAttestationSignedByAnotherChainDoesNotVouch()
    {
        using var signer = new NotationTestSigner();
        using var stranger = new NotationTestSigner("stranger");
        var check = await NotaryAttestationStore.VerifyAsync([Attestation(stranger)], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None);

        Assert.False(check.Verified);
        Assert.Contains($"attestation {s_attestationManifest.Digest}: invalid signature: the certificate chain of the signature contains none of the attestor certificates", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnsignedAttestationDoesNotVouchAndNoAttestationIsNotFound()
    {
        using var signer = new NotationTestSigner();
        Assert.Contains("signature not found", (await NotaryAttestationStore.VerifyAsync([Attestation(null)], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None)).Reason, StringComparison.Ordinal);
        Assert.Equal($"no attestations of type {Type} found", (await NotaryAttestationStore.VerifyAsync([], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None)).Reason);
    }

    [Fact]
    public async Task TheImagesOwnSignatureDoesNotSignItsAttestation()
    {
        // A signature is for one manifest: the image's cannot be copied onto an attestation to vouch for it.
        using var signer = new NotationTestSigner();
        var check = await NotaryAttestationStore.VerifyAsync([Attestation(signer, signed: new NotaryArtifact(OciManifest, ImageDigest, 1234))], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None);

        Assert.False(check.Verified);
        Assert.Contains("not the image's manifest", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnsignedAttestationBesideASignedOneIsPassedOver()
    {
        using var signer = new NotationTestSigner();
        var check = await NotaryAttestationStore.VerifyAsync([Attestation(null, """{"forged":true}"""), Attestation(signer)], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None);

        Assert.True(check.Verified, check.Reason);
        Assert.False(Assert.Single(check.Statements).Predicate.TryGetProperty("forged", out _));
    }

    [Theory]
    [InlineData("[1,2,3]", "not a JSON object")]
    [InlineData("{\"unterminated\":", "not JSON")]
    public async Task ASignedAttestationWhosePredicateIsNotAJsonObjectFails(string predicate, string reason)
    {
        using var signer = new NotationTestSigner();
        var check = await NotaryAttestationStore.VerifyAsync([Attestation(signer, predicate), Attestation(signer)], Type, [signer.Root], DateTimeOffset.UtcNow, NotaryRevocation.Shared, CancellationToken.None);

        Assert.False(check.Verified);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    public void APredicateWhoseTextIsNotUtf8IsRefusedWhereItIsRead(byte[] predicate)
    {
        // JsonDocument accepts these and would throw only when a condition reads the string.
        var statement = NotaryAttestationStore.Statement(Type, predicate, out var problem);

        Assert.Null(statement);
        Assert.Equal("the attestation's predicate holds a string that is not valid UTF-8 or Unicode", problem);
    }

    [Fact]
    public void APredicateWithALoneSurrogateEscapeIsRefused()
    {
        var statement = NotaryAttestationStore.Statement(Type, """{"a":["ok","\uD800"]}"""u8.ToArray(), out var problem);

        Assert.Null(statement);
        Assert.NotNull(problem);
    }

    [Fact]
    public void TheStatementKeepsThePredicateAsWritten()
    {
        var statement = NotaryAttestationStore.Statement(Type, """{"a":{"b":[1,"two",null]}}"""u8.ToArray(), out var problem);

        Assert.Null(problem);
        Assert.Equal(Type, statement!.Statement.GetProperty("type").GetString());
        Assert.Equal("""{"a":{"b":[1,"two",null]}}""", statement.Predicate.GetRawText());
        Assert.Equal(2, statement.Statement.EnumerateObject().Count());
    }
}

using System.Security.Cryptography;
using System.Text;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

public sealed class VerificationKeyTests
{
    private static readonly byte[] s_data = Encoding.UTF8.GetBytes("payload");

    [Theory]
    [InlineData("cosign.pub")]
    [InlineData("cosign2.pub")]
    [InlineData("rekor.pub")]
    public void CosignPemKeysAreP256WithSha256(string file)
    {
        var key = CosignFixtures.Key(file);

        Assert.Equal(KeyAlgorithm.EcdsaP256, key.Algorithm);
        Assert.Equal(HashAlgorithmName.SHA256, key.Hash);
        Assert.Equal(91, key.SubjectPublicKeyInfo.Length);
    }

    [Fact]
    public void PemThatIsNotAPublicKeyIsRefused()
    {
        var certificate = File.ReadAllText(Path.Combine(CosignFixtures.Root, "fulcio_v1.crt.pem"));

        Assert.Throws<CryptographicException>(() => VerificationKey.FromPem(certificate));
    }

    [Fact]
    public void TextWithoutPemIsRefused()
    {
        Assert.ThrowsAny<ArgumentException>(() => VerificationKey.FromPem("not a key"));
    }

    // RFC 8410 section 10.1's SubjectPublicKeyInfo with the X25519 OID (1.3.101.110): a key-agreement key, which
    // verifies no signature. (Ed25519 keys are supported: see Bundles/Ed25519KeyTests.)
    [Fact]
    public void UnsupportedKeyTypeIsRefused()
    {
        var x25519 = Convert.FromBase64String("MCowBQYDK2VuAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=");

        Assert.ThrowsAny<CryptographicException>(() => VerificationKey.FromSubjectPublicKeyInfo(x25519, HashAlgorithmName.SHA256));
    }

    [Theory]
    [InlineData("nistP256", KeyAlgorithm.EcdsaP256)]
    [InlineData("nistP384", KeyAlgorithm.EcdsaP384)]
    [InlineData("nistP521", KeyAlgorithm.EcdsaP521)]
    public void EcdsaDerSignaturesVerify(string curve, KeyAlgorithm expected)
    {
        using var signer = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));
        var key = VerificationKey.FromPem(signer.ExportSubjectPublicKeyInfoPem());
        var signature = signer.SignData(s_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        Assert.Equal(expected, key.Algorithm);
        Assert.True(key.Verify(s_data, signature));
        Assert.False(key.Verify(Encoding.UTF8.GetBytes("payloaD"), signature));
    }

    [Fact]
    public void EcdsaP1363SignatureIsNotAccepted()
    {
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = VerificationKey.FromPem(signer.ExportSubjectPublicKeyInfoPem());
        var signature = signer.SignData(s_data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.False(key.Verify(s_data, signature));
    }

    [Fact]
    public void SignatureAlgorithmHashIsHonoured()
    {
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var sha512Key = VerificationKey.FromPem(signer.ExportSubjectPublicKeyInfoPem(), HashAlgorithmName.SHA512);
        var sha512Signature = signer.SignData(s_data, HashAlgorithmName.SHA512, DSASignatureFormat.Rfc3279DerSequence);
        var sha256Signature = signer.SignData(s_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        Assert.True(sha512Key.Verify(s_data, sha512Signature));
        Assert.False(sha512Key.Verify(s_data, sha256Signature));
    }

    [Fact]
    public void RsaPkcs1AndPssSignaturesVerifyOverTheirDataAndHashOnly()
    {
        using var signer = RSA.Create(2048);
        var key = VerificationKey.FromPem(signer.ExportSubjectPublicKeyInfoPem());
        var other = (byte[])s_data.Clone();
        other[0] ^= 1;

        Assert.Equal(KeyAlgorithm.Rsa, key.Algorithm);
        Assert.True(key.Verify(s_data, signer.SignData(s_data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
        Assert.True(key.Verify(s_data, signer.SignData(s_data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)));
        Assert.False(key.Verify(other, signer.SignData(s_data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)));
        Assert.False(key.Verify(s_data, signer.SignData(s_data, HashAlgorithmName.SHA384, RSASignaturePadding.Pss)));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x30, 0x00 })]
    [InlineData(new byte[] { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 })]
    [InlineData(new byte[] { 0xff, 0xff, 0xff })]
    public void GarbageSignaturesAreInvalidNotExceptions(byte[] signature)
    {
        var key = CosignFixtures.Key("cosign.pub");

        Assert.False(key.Verify(s_data, signature));
    }
}

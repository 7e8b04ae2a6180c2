using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>Ed25519 keys in <see cref="VerificationKey"/> (Rekor v2 checkpoints, Ed25519 logs and signers).</summary>
public sealed class Ed25519KeyTests
{
    // RFC 8032 section 7.1, TEST 1: an empty message.
    private const string PublicKeyHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    private const string SignatureHex = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    /// <summary>An RFC 8410 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { 1.3.101.112 }, BIT STRING key }.</summary>
    internal static byte[] Spki(ReadOnlySpan<byte> publicKey) => [.. Convert.FromHexString("302a300506032b6570032100"), .. publicKey];

    [Fact]
    public void Rfc8032TestVectorVerifies()
    {
        var key = VerificationKey.FromSubjectPublicKeyInfo(Spki(Convert.FromHexString(PublicKeyHex)), HashAlgorithmName.SHA256);
        var signature = Convert.FromHexString(SignatureHex);

        Assert.Equal(KeyAlgorithm.Ed25519, key.Algorithm);
        Assert.True(key.Verify([], signature));
        Assert.False(key.Verify([0x00], signature));
        signature[10] ^= 1;
        Assert.False(key.Verify([], signature));
    }

    [Fact]
    public void PemEd25519KeysVerifyWhatTheirPrivateKeySigned()
    {
        var (pem, sign) = NewKey();
        var key = VerificationKey.FromPem(pem);
        var message = Encoding.UTF8.GetBytes("log2025-1.rekor.sigstore.dev\n42\n");

        Assert.Equal(KeyAlgorithm.Ed25519, key.Algorithm);
        Assert.True(key.Verify(message, sign(message)));
        Assert.False(key.Verify(message, sign(Encoding.UTF8.GetBytes("another note\n"))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(65)]
    public void SignaturesOfTheWrongLengthAreInvalidNotExceptions(int length)
    {
        var key = VerificationKey.FromSubjectPublicKeyInfo(Spki(Convert.FromHexString(PublicKeyHex)), HashAlgorithmName.SHA256);

        Assert.False(key.Verify([], new byte[length]));
    }

    [Fact]
    public void Ed25519NeverVerifiesABareDigest()
    {
        var (pem, sign) = NewKey();
        var key = VerificationKey.FromPem(pem);
        var digest = SHA256.HashData("artifact"u8);

        Assert.False(key.VerifyDigest(digest, sign(digest)));
    }

    [Fact]
    public void EcdsaAndRsaKeysVerifyDigests()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        var digest = SHA256.HashData("artifact"u8);
        var ecKey = VerificationKey.FromPem(ec.ExportSubjectPublicKeyInfoPem());
        var rsaKey = VerificationKey.FromPem(rsa.ExportSubjectPublicKeyInfoPem());

        Assert.True(ecKey.VerifyDigest(digest, ec.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence)));
        Assert.True(rsaKey.VerifyDigest(digest, rsa.SignHash(digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
        Assert.False(ecKey.VerifyDigest(SHA256.HashData("other"u8), ec.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence)));
    }

    [Fact]
    public void TrustedRootsNowKeepTheirEd25519Logs()
    {
        var log = Assert.Single(TrustedRoot.PublicGood.TransparencyLogs, l => l.BaseUrl == "https://log2025-1.rekor.sigstore.dev");

        Assert.Equal(KeyAlgorithm.Ed25519, log.Key.Algorithm);
        Assert.DoesNotContain(TrustedRoot.PublicGood.SkippedEntries, s => s.Contains("ED25519", StringComparison.Ordinal));
    }

    /// <summary>A fresh Ed25519 key pair (BouncyCastle, as the runtime verifies with it): its PEM and a signing function.</summary>
    internal static (string Pem, Func<byte[], byte[]> Sign) NewKey()
    {
        var secret = RandomNumberGenerator.GetBytes(Ed25519.SecretKeySize);
        var publicKey = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(secret, 0, publicKey, 0);
        var pem = PemEncoding.WriteString("PUBLIC KEY", Spki(publicKey));
        return (pem, message =>
        {
            var signature = new byte[Ed25519.SignatureSize];
            Ed25519.Sign(secret, 0, message, 0, message.Length, signature, 0);
            return signature;
        });
    }
}

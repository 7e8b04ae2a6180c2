using System.Formats.Asn1;
using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>The public key algorithms a compiled policy can name.</summary>
public enum KeyAlgorithm
{
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa,

    /// <summary>Pure Ed25519 (RFC 8032): Rekor v2 logs sign checkpoints with it. The message is not prehashed.</summary>
    Ed25519,
}

/// <summary>
/// A public key that verifies signatures. The generator checked the key at build time and embeds its
/// SubjectPublicKeyInfo; the platform key object is imported on first use and then shared across threads
/// (the .NET ECDsa/RSA verify operations are thread-safe on imported public keys). Ed25519, which .NET lacks,
/// is verified with BouncyCastle's stateless RFC 8032 implementation.
/// </summary>
public sealed class VerificationKey
{
    private const string Ed25519Oid = "1.3.101.112";

    private readonly byte[] _spki;
    private readonly Lazy<AsymmetricAlgorithm> _key;
    private readonly byte[]? _ed25519;

    public VerificationKey(KeyAlgorithm algorithm, string subjectPublicKeyInfoBase64, HashAlgorithmName hash)
    {
        Algorithm = algorithm;
        Hash = hash;
        _spki = Convert.FromBase64String(subjectPublicKeyInfoBase64);
        _key = new Lazy<AsymmetricAlgorithm>(Import, LazyThreadSafetyMode.ExecutionAndPublication);
        if (algorithm == KeyAlgorithm.Ed25519)
        {
            _ed25519 = ReadEd25519(_spki) ?? throw new CryptographicException("the key is not an Ed25519 SubjectPublicKeyInfo");
        }
    }

    public KeyAlgorithm Algorithm { get; }

    /// <summary>The digest the signer used over the payload (<c>signatureAlgorithm</c>, sha256 by default as in cosign).</summary>
    public HashAlgorithmName Hash { get; }

    public ReadOnlySpan<byte> SubjectPublicKeyInfo => _spki;

    /// <summary>Imports a PEM <c>PUBLIC KEY</c> block (used by tests and by keys that arrive at run time).</summary>
    public static VerificationKey FromPem(string pem, HashAlgorithmName? hash = null)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var fields = PemEncoding.Find(pem);
        if (!pem.AsSpan()[fields.Label].Equals("PUBLIC KEY", StringComparison.Ordinal))
        {
            throw new CryptographicException("expected a PEM 'PUBLIC KEY' block");
        }

        var der = Convert.FromBase64String(pem[fields.Base64Data]);
        return FromSubjectPublicKeyInfo(der, hash ?? HashAlgorithmName.SHA256);
    }

    public static VerificationKey FromSubjectPublicKeyInfo(byte[] spki, HashAlgorithmName hash)
    {
        ArgumentNullException.ThrowIfNull(spki);
        if (ReadEd25519(spki) is not null)
        {
            return new VerificationKey(KeyAlgorithm.Ed25519, Convert.ToBase64String(spki), hash);
        }

        KeyAlgorithm algorithm;
        using var ec = ECDsa.Create();
        bool isEc;
        try
        {
            ec.ImportSubjectPublicKeyInfo(spki, out _);
            isEc = true;
        }
        catch (CryptographicException)
        {
            isEc = false;
        }

        if (isEc)
        {
            // The curve is named by its OID, not guessed from the key size: secp256k1 and brainpoolP256r1 are 256-bit
            // curves too, and cosign (Go's crypto/x509) refuses them. Only the NIST curves are accepted.
            var curve = ec.ExportParameters(includePrivateParameters: false).Curve;
            algorithm = (curve.IsNamed ? curve.Oid.Value : null) switch
            {
                "1.2.840.10045.3.1.7" => KeyAlgorithm.EcdsaP256,
                "1.3.132.0.34" => KeyAlgorithm.EcdsaP384,
                "1.3.132.0.35" => KeyAlgorithm.EcdsaP521,
                _ => throw new CryptographicException($"unsupported elliptic curve {curve.Oid?.FriendlyName ?? curve.Oid?.Value ?? "(explicit parameters)"} of {ec.KeySize} bits: only P-256, P-384 and P-521 are accepted"),
            };
        }
        else
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            algorithm = KeyAlgorithm.Rsa;
        }

        return new VerificationKey(algorithm, Convert.ToBase64String(spki), hash);
    }

    /// <summary>Checks a signature over <paramref name="data"/>. Malformed signatures are simply not valid.</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (_ed25519 is not null)
        {
            return signature.Length == Ed25519.SignatureSize
                && Ed25519.Verify(signature.ToArray(), 0, _ed25519, 0, data.ToArray(), 0, data.Length);
        }

        try
        {
            return _key.Value switch
            {
                // cosign writes ASN.1 DER (r, s); a raw IEEE P1363 signature is not what it produces, so it is not accepted.
                // .NET cannot name SHA-224: that digest comes from BouncyCastle.
                ECDsa ec when Hash == SignatureHashes.Sha224 => ec.VerifyHash(SignatureHashes.Compute(SignatureHashes.Sha224, data), signature, DSASignatureFormat.Rfc3279DerSequence),
                ECDsa ec => ec.VerifyData(data, signature, Hash, DSASignatureFormat.Rfc3279DerSequence),
                RSA rsa when Hash == SignatureHashes.Sha224 => RsaPss.VerifyPkcs1Sha224(rsa, data, signature) || RsaPss.Verify(rsa, SignatureHashes.Compute(SignatureHashes.Sha224, data), signature, Hash),

                // PKCS#1 v1.5 is what cosign's RSA keys sign with; PSS is what sigstore's RSA-PSS signer makes.
                RSA rsa => rsa.VerifyData(data, signature, Hash, RSASignaturePadding.Pkcs1) || RsaPss.Verify(rsa, SignatureHashes.Compute(Hash, data), signature, Hash),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// Checks a signature over a digest the caller already computed with <see cref="Hash"/> (a Sigstore bundle names
    /// the artifact by digest). Ed25519 signs the message itself, so it never verifies a bare digest.
    /// </summary>
    public bool VerifyDigest(ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature)
    {
        if (_ed25519 is not null)
        {
            return false;
        }

        try
        {
            return _key.Value switch
            {
                ECDsa ec => ec.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence),
                RSA rsa when Hash != SignatureHashes.Sha224 => rsa.VerifyHash(digest, signature, Hash, RSASignaturePadding.Pkcs1) || RsaPss.Verify(rsa, digest, signature, Hash),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>The 32-byte Ed25519 public key of an RFC 8410 SubjectPublicKeyInfo, or null for another key type.</summary>
    private static byte[]? ReadEd25519(byte[] spki)
    {
        try
        {
            var sequence = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
            var algorithm = sequence.ReadSequence();
            if (algorithm.ReadObjectIdentifier() != Ed25519Oid || algorithm.HasData)
            {
                return null;
            }

            var key = sequence.ReadBitString(out var unused);
            return unused == 0 && key.Length == Ed25519.PublicKeySize && !sequence.HasData ? key : null;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    private AsymmetricAlgorithm Import()
    {
        if (Algorithm == KeyAlgorithm.Rsa)
        {
            var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(_spki, out _);
            return rsa;
        }

        var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(_spki, out _);
        return ec;
    }
}

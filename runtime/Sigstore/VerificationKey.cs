using System.Security.Cryptography;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>The public key algorithms a compiled policy can name.</summary>
public enum KeyAlgorithm
{
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa,
}

/// <summary>
/// A public key that verifies signatures. The generator checked the key at build time and embeds its
/// SubjectPublicKeyInfo; the platform key object is imported on first use and then shared across threads
/// (the .NET ECDsa/RSA verify operations are thread-safe on imported public keys).
/// </summary>
public sealed class VerificationKey
{
    private readonly byte[] _spki;
    private readonly Lazy<AsymmetricAlgorithm> _key;

    public VerificationKey(KeyAlgorithm algorithm, string subjectPublicKeyInfoBase64, HashAlgorithmName hash)
    {
        Algorithm = algorithm;
        Hash = hash;
        _spki = Convert.FromBase64String(subjectPublicKeyInfoBase64);
        _key = new Lazy<AsymmetricAlgorithm>(Import, LazyThreadSafetyMode.ExecutionAndPublication);
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
        KeyAlgorithm algorithm;
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(spki, out _);
            algorithm = ec.KeySize switch
            {
                256 => KeyAlgorithm.EcdsaP256,
                384 => KeyAlgorithm.EcdsaP384,
                521 => KeyAlgorithm.EcdsaP521,
                _ => throw new CryptographicException($"unsupported elliptic curve of {ec.KeySize} bits"),
            };
        }
        catch (CryptographicException)
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
        try
        {
            return _key.Value switch
            {
                // cosign writes ASN.1 DER (r, s); a raw IEEE P1363 signature is not what it produces, so it is not accepted.
                ECDsa ec => ec.VerifyData(data, signature, Hash, DSASignatureFormat.Rfc3279DerSequence),
                RSA rsa => rsa.VerifyData(data, signature, Hash, RSASignaturePadding.Pkcs1),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
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

using System.Numerics;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// The signature schemes .NET leaves to us: RSASSA-PSS with any salt length (RFC 8017 §9.1.2) — Go's
/// <c>rsa.SignPSS</c>, which sigstore's RSA-PSS signer calls, defaults to the longest salt the key allows, while .NET
/// only verifies a salt as long as the hash — and SHA-224 (<c>signatureAlgorithm: sha224</c>), which .NET does not
/// implement, taken from BouncyCastle.
/// </summary>
internal static class RsaPss
{
    /// <summary>RSASSA-PKCS1-v1_5 over SHA-224, which the platform cannot name.</summary>
    public static bool VerifyPkcs1Sha224(RSA rsa, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        var parameters = rsa.ExportParameters(includePrivateParameters: false);
        var signer = new RsaDigestSigner(new Sha224Digest());
        signer.Init(false, new RsaKeyParameters(false, new Org.BouncyCastle.Math.BigInteger(1, parameters.Modulus), new Org.BouncyCastle.Math.BigInteger(1, parameters.Exponent)));
        signer.BlockUpdate(data);
        return signer.VerifySignature(signature.ToArray());
    }

    /// <summary>EMSA-PSS verification of <paramref name="messageHash"/>, MGF1 with the same hash, salt of any length.</summary>
    public static bool Verify(RSA rsa, ReadOnlySpan<byte> messageHash, ReadOnlySpan<byte> signature, HashAlgorithmName hash)
    {
        var parameters = rsa.ExportParameters(includePrivateParameters: false);
        var modulus = new BigInteger(parameters.Modulus, isUnsigned: true, isBigEndian: true);
        var exponent = new BigInteger(parameters.Exponent, isUnsigned: true, isBigEndian: true);
        if (signature.Length != parameters.Modulus!.Length)
        {
            return false;
        }

        var s = new BigInteger(signature, isUnsigned: true, isBigEndian: true);
        if (s >= modulus)
        {
            return false;
        }

        var m = BigInteger.ModPow(s, exponent, modulus);
        var emBits = (int)modulus.GetBitLength() - 1;
        var emLength = (emBits + 7) / 8;
        var hashLength = messageHash.Length;
        var mLength = m.GetByteCount(isUnsigned: true);
        if (mLength > emLength || emLength < hashLength + 2)
        {
            return false;
        }

        var em = new byte[emLength];
        m.TryWriteBytes(em.AsSpan(emLength - mLength), out _, isUnsigned: true, isBigEndian: true);
        if (em[^1] != 0xbc)
        {
            return false;
        }

        // The leftmost 8·emLen − emBits bits of the encoded message must be zero.
        var allowed = (byte)(0xFF >> ((8 * emLength) - emBits));
        if ((em[0] & ~allowed) != 0)
        {
            return false;
        }

        var dbLength = emLength - hashLength - 1;
        var h = em.AsSpan(dbLength, hashLength);
        var db = Mgf1(h, dbLength, hash);
        for (var i = 0; i < dbLength; i++)
        {
            db[i] ^= em[i];
        }

        db[0] &= allowed;
        var separator = 0;
        while (separator < dbLength && db[separator] == 0)
        {
            separator++;
        }

        if (separator == dbLength || db[separator] != 0x01)
        {
            return false;
        }

        var salt = db.AsSpan(separator + 1);
        var prime = new byte[8 + hashLength + salt.Length];
        messageHash.CopyTo(prime.AsSpan(8));
        salt.CopyTo(prime.AsSpan(8 + hashLength));
        return CryptographicOperations.FixedTimeEquals(SignatureHashes.Compute(hash, prime), h);
    }

    private static byte[] Mgf1(ReadOnlySpan<byte> seed, int length, HashAlgorithmName hash)
    {
        var output = new byte[length];
        var input = new byte[seed.Length + 4];
        seed.CopyTo(input);
        for (uint counter = 0, written = 0; written < length; counter++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
            var block = SignatureHashes.Compute(hash, input);
            var take = Math.Min(block.Length, length - (int)written);
            block.AsSpan(0, take).CopyTo(output.AsSpan((int)written));
            written += (uint)take;
        }

        return output;
    }
}

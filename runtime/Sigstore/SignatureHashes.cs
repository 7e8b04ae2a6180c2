using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// Every digest a signature or timestamp check may name, behind one switch: the platform's, plus SHA-224
/// (<c>signatureAlgorithm: sha224</c>), which .NET does not implement, from BouncyCastle.
/// </summary>
internal static class SignatureHashes
{
    public static readonly HashAlgorithmName Sha224 = new("SHA224");

    public static byte[] Compute(HashAlgorithmName algorithm, ReadOnlySpan<byte> data)
    {
        if (algorithm == HashAlgorithmName.SHA256)
        {
            return SHA256.HashData(data);
        }

        if (algorithm == HashAlgorithmName.SHA384)
        {
            return SHA384.HashData(data);
        }

        if (algorithm == HashAlgorithmName.SHA512)
        {
            return SHA512.HashData(data);
        }

        if (algorithm == Sha224)
        {
            var digest = new Sha224Digest();
            digest.BlockUpdate(data);
            var output = new byte[digest.GetDigestSize()];
            digest.DoFinal(output, 0);
            return output;
        }

        if (algorithm == HashAlgorithmName.SHA1)
        {
#pragma warning disable CA5350 // SHA-1 only where a format names it: an RFC 3161 imprint or ESSCertID v1 (RFC 2634)
            return SHA1.HashData(data);
#pragma warning restore CA5350
        }

        throw new CryptographicException($"unsupported hash algorithm {algorithm.Name}");
    }
}

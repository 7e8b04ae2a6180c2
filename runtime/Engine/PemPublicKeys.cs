using System.Security.Cryptography;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// A transparency log key substituted into <c>rekor.pubkey</c> or <c>ctlog.pubkey</c> at admission. The build-time reader
/// checks a literal key; a substituted one is known only then, so text that is not exactly one usable PEM public key
/// throws (naming the field) for that attestor to fail.
/// </summary>
public static class PemPublicKeys
{
    /// <summary>Exactly one PEM <c>PUBLIC KEY</c> block, as the build-time check wants of a literal log key.</summary>
    public static VerificationKey One(string pem, string field)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var blocks = ImageVerifier.PemBlocks(pem);
        if (blocks.Count != 1)
        {
            throw new CryptographicException(blocks.Count == 0 ? $"{field} holds no PEM public key" : $"{field} holds {blocks.Count} PEM blocks, not one public key");
        }

        try
        {
            return VerificationKey.FromPem(blocks[0]);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException or NotSupportedException)
        {
            throw new CryptographicException($"{field}: {e.Message}", e);
        }
    }
}

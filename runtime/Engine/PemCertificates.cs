using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Certificates substituted into <c>certificates.cert</c> and <c>certChain</c> at admission: the build-time reader checked
/// the literal ones, these are only known then, so a text that is not PEM certificates throws for that attestor to fail.
/// </summary>
public static class PemCertificates
{
    /// <summary>Exactly one PEM certificate (<c>cert</c>).</summary>
    public static X509Certificate2 One(string pem)
    {
        var all = All(pem);
        return all.Length == 1
            ? all[0]
            : throw new CryptographicException($"cert holds {all.Length} certificates, not one");
    }

    /// <summary>One or more PEM certificates (<c>certChain</c>), in their order.</summary>
    public static X509Certificate2[] All(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var blocks = ImageVerifier.PemBlocks(pem);
        if (blocks.Count == 0)
        {
            throw new CryptographicException("no PEM certificate found");
        }

        var certificates = new X509Certificate2[blocks.Count];
        for (var i = 0; i < blocks.Count; i++)
        {
            certificates[i] = X509Certificate2.CreateFromPem(blocks[i]);
        }

        return certificates;
    }
}

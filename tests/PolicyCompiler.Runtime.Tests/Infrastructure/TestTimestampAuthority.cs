using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tsp;
using Org.BouncyCastle.Utilities.Collections;

namespace PolicyCompiler.Runtime.Tests.Infrastructure;

/// <summary>
/// A timestamp authority made per test: a CA and a TSA leaf (critical time-stamping EKU) from .NET, tokens from
/// BouncyCastle's RFC 3161 implementation — a second implementation, so the runtime's reader is not checked against
/// tokens it could have shaped itself.
/// </summary>
internal sealed class TestTimestampAuthority : IDisposable
{
    private const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";

    public TestTimestampAuthority(DateTimeOffset notBefore, DateTimeOffset notAfter, string name = "Test TSA")
    {
        var rootRequest = new CertificateRequest($"CN={name} Root", RootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        Root = rootRequest.CreateSelfSigned(notBefore.AddDays(-1), notAfter.AddDays(1));

        var leafRequest = new CertificateRequest($"CN={name}", LeafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(TimeStampingEku)], true));
        leafRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(leafRequest.PublicKey, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        Leaf = leafRequest.Create(Root, notBefore, notAfter, serial);
    }

    public ECDsa RootKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public ECDsa LeafKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public X509Certificate2 Root { get; }

    public X509Certificate2 Leaf { get; }

    /// <summary>A DER TimeStampResp over SHA-256(<paramref name="data"/>), stamped at <paramref name="at"/>.</summary>
    public byte[] Stamp(ReadOnlySpan<byte> data, DateTimeOffset at, bool embedLeaf = true)
    {
        var leaf = new Org.BouncyCastle.X509.X509Certificate(Leaf.RawData);
        var generator = new TimeStampTokenGenerator(DotNetUtilities.GetECDsaKeyPair(LeafKey).Private, leaf, TspAlgorithms.Sha256, "1.3.6.1.4.1.57264.2");
        if (embedLeaf)
        {
            generator.SetCertificates(CollectionUtilities.CreateStore(new[] { leaf }));
        }

        var requests = new TimeStampRequestGenerator();
        requests.SetCertReq(embedLeaf);
        var request = requests.Generate(TspAlgorithms.Sha256, SHA256.HashData(data), new Org.BouncyCastle.Math.BigInteger(64, new SecureRandom()));
        var response = new TimeStampResponseGenerator(generator, TspAlgorithms.Allowed)
            .Generate(request, new Org.BouncyCastle.Math.BigInteger(64, new SecureRandom()), at.UtcDateTime);
        return response.GetEncoded();
    }

    /// <summary>The annotation value cosign writes: <c>{"SignedRFC3161Timestamp": base64}</c>.</summary>
    public string Annotation(ReadOnlySpan<byte> data, DateTimeOffset at, bool embedLeaf = true) =>
        $$"""{"SignedRFC3161Timestamp":"{{Convert.ToBase64String(Stamp(data, at, embedLeaf))}}"}""";

    public void Dispose()
    {
        Root.Dispose();
        Leaf.Dispose();
        RootKey.Dispose();
        LeafKey.Dispose();
    }
}

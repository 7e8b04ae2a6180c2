using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Tests.Shared;

/// <summary>
/// A private CA (root, intermediate) issuing code-signing leaves, a test CT log that signs their SCTs over the
/// precertificate (RFC 6962 §3.2, embedded as in §3.3), and cosign signatures made with the leaves. Compiled into the
/// runtime and the generator tests, which both need certificates with and without SCTs.
/// </summary>
public sealed class SctPki : IDisposable
{
    /// <summary>The digest the signed payload names.</summary>
    public const string Digest = "sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105";

    private static readonly byte[] s_payload = Encoding.UTF8.GetBytes("""{"critical":{"identity":{"docker-reference":"registry.test/team/app"},"image":{"docker-manifest-digest":"sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105"},"type":"cosign container image signature"},"optional":null}""");

    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _signingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public SctPki()
    {
        var now = DateTimeOffset.UtcNow;
        var rootRequest = new CertificateRequest("CN=Test Signing Root", _rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        Root = rootRequest.CreateSelfSigned(now.AddYears(-1), now.AddYears(1));

        var intermediateRequest = new CertificateRequest("CN=Test Signing Intermediate", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var intermediate = intermediateRequest.Create(Root, now.AddYears(-1), now.AddYears(1), [7, 1]);
        Intermediate = X509CertificateLoader.LoadCertificate(intermediate.RawData);
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    /// <summary>The CT log the policy trusts.</summary>
    public ECDsa CtKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A log nobody trusts.</summary>
    public ECDsa OtherCtKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TransparencyLog CtLog => TransparencyLog.FromKey("ctlog", VerificationKey.FromSubjectPublicKeyInfo(CtKey.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256));

    /// <summary>The trusted CT log's key as <c>ctlog.pubkey</c> holds it.</summary>
    public string CtKeyPem => CtKey.ExportSubjectPublicKeyInfoPem();

    public static byte[] LogId(ECDsa key) => SHA256.HashData(key.ExportSubjectPublicKeyInfo());

    public void Dispose()
    {
        Root.Dispose();
        Intermediate.Dispose();
        _rootKey.Dispose();
        _intermediateKey.Dispose();
        _signingKey.Dispose();
        CtKey.Dispose();
        OtherCtKey.Dispose();
    }

    /// <summary>
    /// A code-signing leaf from the intermediate. With <paramref name="sctSigner"/>, the certificate is issued twice
    /// from the same inputs: the first one's TBSCertificate is the precertificate the log signs, the second carries the
    /// SCT list as its last extension. <paramref name="claimedLog"/> is the log id the SCT names (default: the signer's).
    /// </summary>
    public X509Certificate2 Leaf(ECDsa? sctSigner, byte[]? claimedLog = null)
    {
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(9);
        serial[0] &= 0x7F;
        var generator = X509SignatureGenerator.CreateForECDsa(_intermediateKey);
        using var precertificate = LeafRequest().Create(Intermediate.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), serial);
        if (sctSigner is null)
        {
            return X509CertificateLoader.LoadCertificate(precertificate.RawData);
        }

        var tbs = new AsnReader(precertificate.RawData, AsnEncodingRules.DER).ReadSequence().ReadEncodedValue().ToArray();
        var sct = Sct(sctSigner, claimedLog ?? LogId(sctSigner), (ulong)now.ToUnixTimeMilliseconds(), SHA256.HashData(Intermediate.PublicKey.ExportSubjectPublicKeyInfo()), tbs);
        var list = new byte[2 + 2 + sct.Length];
        BinaryPrimitives.WriteUInt16BigEndian(list, (ushort)(2 + sct.Length));
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)sct.Length);
        sct.CopyTo(list, 4);
        var octets = new AsnWriter(AsnEncodingRules.DER);
        octets.WriteOctetString(list);

        var request = LeafRequest();
        request.CertificateExtensions.Add(new X509Extension(SignedCertificateTimestamps.SctListOid, octets.Encode(), false));
        using var certificate = request.Create(Intermediate.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), serial);
        return X509CertificateLoader.LoadCertificate(certificate.RawData);
    }

    /// <summary>The same leaf with another certificate's SCT list grafted on: the log signed other TBS bytes.</summary>
    public X509Certificate2 Grafted(X509Certificate2 donor)
    {
        ArgumentNullException.ThrowIfNull(donor);
        var request = LeafRequest();
        request.CertificateExtensions.Add(donor.Extensions.Cast<X509Extension>().Single(e => e.Oid?.Value == SignedCertificateTimestamps.SctListOid));
        using var certificate = request.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_intermediateKey), donor.NotBefore, donor.NotAfter, [0x11, 0x22]);
        return X509CertificateLoader.LoadCertificate(certificate.RawData);
    }

    /// <summary>A cosign signature by the signing key, carrying <paramref name="leaf"/> and the intermediate and root as its chain.</summary>
    public CosignSignature Signed(X509Certificate2 leaf)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        return new(s_payload, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(_signingKey.SignData(s_payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
            [CosignSignature.CertificateAnnotation] = leaf.ExportCertificatePem(),
            [CosignSignature.ChainAnnotation] = Intermediate.ExportCertificatePem() + "\n" + Root.ExportCertificatePem(),
        });
    }

    private CertificateRequest LeafRequest()
    {
        var request = new CertificateRequest("CN=release signer", _signingKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
        return request;
    }

    /// <summary>One v1 SCT: the log's ECDSA signature over the precert_entry digitally-signed struct.</summary>
    private static byte[] Sct(ECDsa log, byte[] logId, ulong timestamp, byte[] issuerKeyHash, byte[] tbs)
    {
        var signed = new List<byte> { 0, 0 };
        signed.AddRange(BigEndian64(timestamp));
        signed.AddRange(new byte[] { 0, 1 });
        signed.AddRange(issuerKeyHash);
        signed.AddRange(new[] { (byte)(tbs.Length >> 16), (byte)(tbs.Length >> 8), (byte)tbs.Length });
        signed.AddRange(tbs);
        signed.AddRange(new byte[] { 0, 0 });
        var signature = log.SignData([.. signed], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        var sct = new List<byte> { 0 };
        sct.AddRange(logId);
        sct.AddRange(BigEndian64(timestamp));
        sct.AddRange(new byte[] { 0, 0, 4, 3, (byte)(signature.Length >> 8), (byte)signature.Length });
        sct.AddRange(signature);
        return [.. sct];
    }

    private static byte[] BigEndian64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return bytes;
    }
}

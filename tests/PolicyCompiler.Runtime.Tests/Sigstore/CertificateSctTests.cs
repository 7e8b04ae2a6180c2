using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// SCTs of <c>certificates</c> attestors, as Kyverno hands them to cosign: with <c>certChain</c> the signing certificate
/// must carry an embedded SCT of a trusted CT log unless <c>ctlog.ignoreSCT</c>; with a bare <c>cert</c> cosign only
/// uses the certificate's key, so no SCT is asked for. The certificates are made here: a root, an intermediate, and
/// leaves whose SCT list a test CT log signed over the precertificate (RFC 6962 §3.2).
/// </summary>
public sealed class CertificateSctTests : IDisposable
{
    private const string Digest = "sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105";
    private static readonly byte[] s_payload = Encoding.UTF8.GetBytes("""{"critical":{"identity":{"docker-reference":"registry.test/team/app"},"image":{"docker-manifest-digest":"sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105"},"type":"cosign container image signature"},"optional":null}""");

    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _signingKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _ctKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _otherCtKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2 _intermediate;

    public CertificateSctTests()
    {
        var now = DateTimeOffset.UtcNow;
        var rootRequest = new CertificateRequest("CN=Test Signing Root", _rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        _root = rootRequest.CreateSelfSigned(now.AddYears(-1), now.AddYears(1));

        var intermediateRequest = new CertificateRequest("CN=Test Signing Intermediate", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var intermediate = intermediateRequest.Create(_root, now.AddYears(-1), now.AddYears(1), [7, 1]);
        _intermediate = X509CertificateLoader.LoadCertificate(intermediate.RawData);
    }

    public void Dispose()
    {
        _root.Dispose();
        _intermediate.Dispose();
        _rootKey.Dispose();
        _intermediateKey.Dispose();
        _signingKey.Dispose();
        _ctKey.Dispose();
        _otherCtKey.Dispose();
    }

    private TransparencyLog CtLog => TransparencyLog.FromKey("ctlog", VerificationKey.FromSubjectPublicKeyInfo(_ctKey.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256));

    private static byte[] LogId(ECDsa key) => SHA256.HashData(key.ExportSubjectPublicKeyInfo());

    /// <summary>
    /// A code-signing leaf from the intermediate. With <paramref name="sctSigner"/>, the certificate is issued twice
    /// from the same inputs: the first one's TBSCertificate is the precertificate the log signs, the second carries the
    /// SCT list as its last extension. <paramref name="claimedLog"/> is the log id the SCT names (default: the signer's).
    /// </summary>
    private X509Certificate2 Leaf(ECDsa? sctSigner, byte[]? claimedLog = null)
    {
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(9);
        serial[0] &= 0x7F;

        CertificateRequest Request()
        {
            var request = new CertificateRequest("CN=release signer", _signingKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
            return request;
        }

        var generator = X509SignatureGenerator.CreateForECDsa(_intermediateKey);
        using var precertificate = Request().Create(_intermediate.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), serial);
        if (sctSigner is null)
        {
            return X509CertificateLoader.LoadCertificate(precertificate.RawData);
        }

        var tbs = new AsnReader(precertificate.RawData, AsnEncodingRules.DER).ReadSequence().ReadEncodedValue().ToArray();
        var sct = Sct(sctSigner, claimedLog ?? LogId(sctSigner), (ulong)now.ToUnixTimeMilliseconds(), SHA256.HashData(_intermediate.PublicKey.ExportSubjectPublicKeyInfo()), tbs);
        var list = new byte[2 + 2 + sct.Length];
        BinaryPrimitives.WriteUInt16BigEndian(list, (ushort)(2 + sct.Length));
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)sct.Length);
        sct.CopyTo(list, 4);
        var octets = new AsnWriter(AsnEncodingRules.DER);
        octets.WriteOctetString(list);

        var final = Request();
        final.CertificateExtensions.Add(new X509Extension(SignedCertificateTimestamps.SctListOid, octets.Encode(), false));
        using var certificate = final.Create(_intermediate.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), serial);
        return X509CertificateLoader.LoadCertificate(certificate.RawData);
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

    /// <summary>A cosign signature by the signing key, carrying <paramref name="leaf"/> and the intermediate as its chain.</summary>
    private CosignSignature Signed(X509Certificate2 leaf) =>
        new(s_payload, new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(_signingKey.SignData(s_payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
            [CosignSignature.CertificateAnnotation] = leaf.ExportCertificatePem(),
            [CosignSignature.ChainAnnotation] = _intermediate.ExportCertificatePem() + "\n" + _root.ExportCertificatePem(),
        });

    private static SignatureCheck Verify(CosignSignature signature, SignerPolicy signer) =>
        CosignVerifier.Verify([signature], Digest, signer, SignatureRequirements.None, TimeProvider.System);

    [Fact]
    public void ChainWithAnSctOfTheConfiguredLogVerifies()
    {
        using var leaf = Leaf(_ctKey);

        var check = Verify(Signed(leaf), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ChainWithoutAnSctFailsByDefaultAndVerifiesWithIgnoreSct()
    {
        using var leaf = Leaf(sctSigner: null);

        var strict = Verify(Signed(leaf), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));
        var ignoring = Verify(Signed(leaf), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null));

        Assert.False(strict.Verified);
        Assert.Contains("the certificate has no embedded SCT", strict.Reason, StringComparison.Ordinal);
        Assert.True(ignoring.Verified, ignoring.Reason);
    }

    [Fact]
    public void WithoutCtlogPubkeyTheTrustedRootsLogsDecideAndATestLogIsNotAmongThem()
    {
        using var leaf = Leaf(_ctKey);

        var check = Verify(Signed(leaf), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null));

        Assert.False(check.Verified);
        Assert.Contains("the SCT comes from a CT log that is not trusted", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnSctThatClaimsTheTrustedLogButIsSignedByAnotherKeyFails()
    {
        using var leaf = Leaf(_otherCtKey, claimedLog: LogId(_ctKey));

        var check = Verify(Signed(leaf), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));

        Assert.False(check.Verified);
        Assert.Contains("the SCT signature does not verify with the CT log key", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnSctOverAnotherCertificateDoesNotTransfer()
    {
        // The SCT list of one certificate, grafted onto another from the same issuer: the log signed other TBS bytes.
        using var donor = Leaf(_ctKey);
        using var recipient = Leaf(sctSigner: null);
        var sctExtension = donor.Extensions.Cast<X509Extension>().Single(e => e.Oid?.Value == SignedCertificateTimestamps.SctListOid);
        var request = new CertificateRequest("CN=release signer", _signingKey, HashAlgorithmName.SHA256);
        foreach (var extension in recipient.Extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        request.CertificateExtensions.Add(sctExtension);
        using var grafted = request.Create(_intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_intermediateKey), recipient.NotBefore, recipient.NotAfter, [0x11, 0x22]);

        var check = Verify(Signed(grafted), new CertificateSigner(null, [_root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));

        Assert.False(check.Verified);
        Assert.Contains("the SCT signature does not verify", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PinnedCertificateWithAChainNeedsItsOwnSct()
    {
        using var logged = Leaf(_ctKey);
        using var unlogged = Leaf(sctSigner: null);

        var withSct = Verify(Signed(logged), new CertificateSigner(logged, [_intermediate, _root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));
        var withoutSct = Verify(Signed(unlogged), new CertificateSigner(unlogged, [_intermediate, _root], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));
        var ignored = Verify(Signed(unlogged), new CertificateSigner(unlogged, [_intermediate, _root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null));

        Assert.True(withSct.Verified, withSct.Reason);
        Assert.False(withoutSct.Verified);
        Assert.Contains("no embedded SCT", withoutSct.Reason, StringComparison.Ordinal);
        Assert.True(ignored.Verified, ignored.Reason);
    }

    [Fact]
    public void PinnedCertificateWithoutAChainIsOnlyAKeySoNoSctIsAskedFor()
    {
        // cosign turns a bare certificate into a key verifier and never looks at its extensions.
        using var unlogged = Leaf(sctSigner: null);

        var check = Verify(Signed(unlogged), new CertificateSigner(unlogged, [], HashAlgorithmName.SHA256, ignoreSct: false, [CtLog]));

        Assert.True(check.Verified, check.Reason);
    }
}

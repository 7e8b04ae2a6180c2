using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A Sigstore deployment made by the tests, for the tests: a Fulcio-like certificate authority
/// (<see cref="Fulcio"/>), a Rekor log key (<see cref="Rekor"/>) and a CT log key (<see cref="CtLog"/>),
/// all generated per run. It signs images as <c>cosign sign</c> does in keyless mode: an ephemeral P-256 key,
/// a short-lived certificate for an OIDC identity with an embedded SCT, and a Rekor bundle (offline proof of the
/// log entry), laid out as the layer annotations cosign writes. Nothing here talks to a network service.
/// </summary>
public sealed class PrivateSigstore : IDisposable
{
    /// <summary>The Rekor URL the test policies name (never contacted: bundles are verified offline).</summary>
    public const string RekorUrl = "https://rekor.test.example";

    private PrivateSigstore(string name, TestFulcio fulcio, TestTransparencyLog rekor, TestTransparencyLog ctLog)
    {
        Name = name;
        Fulcio = fulcio;
        Rekor = rekor;
        CtLog = ctLog;
    }

    public string Name { get; }

    public TestFulcio Fulcio { get; }

    public TestTransparencyLog Rekor { get; }

    public TestTransparencyLog CtLog { get; }

    /// <summary>A fresh deployment; <paramref name="name"/> goes into the CA names (<c>O=&lt;name&gt;</c>).</summary>
    public static PrivateSigstore Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new PrivateSigstore(name, TestFulcio.Create(name), TestTransparencyLog.Create(), TestTransparencyLog.Create());
    }

    /// <summary>
    /// Signs <paramref name="payload"/> as cosign's keyless flow does: a new ephemeral key, a certificate for
    /// <paramref name="identity"/> from this deployment's Fulcio (or <see cref="KeylessSigningOptions.Fulcio"/>)
    /// with an SCT of its CT log, the ECDSA signature, and a Rekor bundle of the hashedrekord entry.
    /// </summary>
    public KeylessSignature Sign(byte[] payload, SigningIdentity identity, KeylessSigningOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(identity);
        options ??= new KeylessSigningOptions();
        var fulcio = options.Fulcio ?? Fulcio;
        var ctLog = options.CtLog ?? CtLog;
        var rekor = options.Rekor ?? Rekor;

        // Fulcio issues for "now" with a 10-minute lifetime; the log integrates the entry a few seconds later.
        var notBefore = TruncateToSeconds(options.CertificateNotBefore ?? DateTimeOffset.UtcNow);
        var notAfter = notBefore + options.CertificateLifetime;
        var integratedTime = TruncateToSeconds(options.IntegratedTime ?? notBefore.AddSeconds(2));

        using var ephemeral = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = fulcio.Issue(new PublicKey(ephemeral), identity, notBefore, notAfter, options.WithSct ? ctLog : null, options.ExtendedKeyUsage);
        var signature = ephemeral.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var signatureBase64 = Convert.ToBase64String(signature);
        var certificatePem = Pem(issued.Certificate) + "\n";

        TestRekorBundle? bundle = null;
        if (options.WithBundle)
        {
            var body = TestRekorBundle.HashedRekordBody(payload, signatureBase64, certificatePem);
            bundle = TestRekorBundle.Create(rekor, body, integratedTime.ToUnixTimeSeconds(), options.LogIndex);
        }

        return new KeylessSignature(payload, signatureBase64, issued, certificatePem, fulcio.ChainPem, bundle);
    }

    /// <summary>Signs the simple-signing payload of <paramref name="image"/> (its repository and digest).</summary>
    public KeylessSignature SignImage(PushedImage image, SigningIdentity identity, KeylessSigningOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Sign(CosignSigner.CreatePayload(image.RepositoryReference, image.Digest), identity, options);
    }

    /// <summary>Signs <paramref name="image"/> and pushes the signature to its <c>sha256-….sig</c> tag.</summary>
    public async Task<KeylessSignature> SignAndPushAsync(RegistryProcess registry, PushedImage image, SigningIdentity identity, KeylessSigningOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var signature = SignImage(image, identity, options);
        await PushAsync(registry, image, signature, cancellationToken).ConfigureAwait(false);
        return signature;
    }

    /// <summary>Pushes an already made (possibly deliberately broken) keyless signature for <paramref name="image"/>.</summary>
    public static Task<PushedSignature> PushAsync(RegistryProcess registry, PushedImage image, KeylessSignature signature, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(signature);
        return CosignSigner.PushSignatureAsync(registry.Distribution, image.Repository, image.Digest, signature.Payload, signature.Annotations, cancellationToken);
    }

    public void Dispose()
    {
        Fulcio.Dispose();
        Rekor.Dispose();
        CtLog.Dispose();
    }

    internal static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem();

    internal static DateTimeOffset TruncateToSeconds(DateTimeOffset time) => DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());
}

/// <summary>What to vary when signing, for the negative cases: another CA, CT log or Rekor, other times, no bundle.</summary>
public sealed record KeylessSigningOptions
{
    /// <summary>The CA that issues the certificate; default: the signing deployment's.</summary>
    public TestFulcio? Fulcio { get; init; }

    /// <summary>The CT log whose SCT is embedded; default: the signing deployment's.</summary>
    public TestTransparencyLog? CtLog { get; init; }

    /// <summary>The log that signs the bundle's SignedEntryTimestamp; default: the signing deployment's.</summary>
    public TestTransparencyLog? Rekor { get; init; }

    /// <summary>The certificate's NotBefore (truncated to seconds); default: now.</summary>
    public DateTimeOffset? CertificateNotBefore { get; init; }

    /// <summary>Fulcio's certificates live 10 minutes.</summary>
    public TimeSpan CertificateLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>False: a certificate without the SCT list extension (a CA that does not log its certificates).</summary>
    public bool WithSct { get; init; } = true;

    /// <summary>The leaf's only extended key usage; Fulcio's is code signing.</summary>
    public string ExtendedKeyUsage { get; init; } = TestFulcio.CodeSigningOid;

    /// <summary>When the log integrated the entry; default: two seconds after NotBefore.</summary>
    public DateTimeOffset? IntegratedTime { get; init; }

    public long LogIndex { get; init; } = 4242;

    /// <summary>False: no <c>dev.sigstore.cosign/bundle</c> annotation (cosign sign --tlog-upload=false).</summary>
    public bool WithBundle { get; init; } = true;
}

/// <summary>
/// The OIDC identity a certificate asserts: the SAN (an e-mail address, or a URI for workload identities),
/// the OIDC issuer (written as Fulcio writes it: raw in 1.3.6.1.4.1.57264.1.1 and as a DER UTF8String in .1.8),
/// and further Fulcio extensions by OID.
/// </summary>
public sealed record SigningIdentity(string Subject, string Issuer)
{
    public const string FulcioArc = "1.3.6.1.4.1.57264.1.";
    public const string IssuerV1Oid = FulcioArc + "1";
    public const string GitHubWorkflowTriggerOid = FulcioArc + "2";
    public const string GitHubWorkflowShaOid = FulcioArc + "3";
    public const string GitHubWorkflowNameOid = FulcioArc + "4";
    public const string GitHubWorkflowRepositoryOid = FulcioArc + "5";
    public const string GitHubWorkflowRefOid = FulcioArc + "6";
    public const string IssuerV2Oid = FulcioArc + "8";
    public const string BuildSignerUriOid = FulcioArc + "9";
    public const string RunnerEnvironmentOid = FulcioArc + "11";
    public const string SourceRepositoryUriOid = FulcioArc + "12";
    public const string SourceRepositoryDigestOid = FulcioArc + "13";
    public const string SourceRepositoryRefOid = FulcioArc + "14";
    public const string BuildTriggerOid = FulcioArc + "20";

    /// <summary>Fulcio extensions besides the issuer, by OID (values encoded by arc: raw up to .1.6, DER from .1.8).</summary>
    public IReadOnlyDictionary<string, string> Extensions { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Only the deprecated raw issuer extension .1.1, as Fulcio wrote certificates before .1.8 existed.</summary>
    public bool LegacyIssuerOnly { get; init; }

    /// <summary>An e-mail SAN unless the subject is a URI.</summary>
    public bool IsUri => Subject.Contains("://", StringComparison.Ordinal);

    /// <summary>
    /// What Fulcio issues for a GitHub Actions OIDC token: the workflow URI as SAN, the token issuer, the deprecated
    /// GitHub extensions .1.2–.1.6 (raw) and the generic ones (DER UTF8String).
    /// </summary>
    public static SigningIdentity GitHubWorkflow(string repository, string workflowPath, string gitRef, string trigger, string sha, string issuer = "https://token.actions.githubusercontent.com")
    {
        var workflowUri = $"https://github.com/{repository}/{workflowPath}@{gitRef}";
        return new SigningIdentity(workflowUri, issuer)
        {
            Extensions = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [GitHubWorkflowTriggerOid] = trigger,
                [GitHubWorkflowShaOid] = sha,
                [GitHubWorkflowNameOid] = "release",
                [GitHubWorkflowRepositoryOid] = repository,
                [GitHubWorkflowRefOid] = gitRef,
                [BuildSignerUriOid] = workflowUri,
                [RunnerEnvironmentOid] = "github-hosted",
                [SourceRepositoryUriOid] = "https://github.com/" + repository,
                [SourceRepositoryDigestOid] = sha,
                [SourceRepositoryRefOid] = gitRef,
                [BuildTriggerOid] = trigger,
            },
        };
    }

    /// <summary>This identity with extension <paramref name="oid"/> set to <paramref name="value"/>, or removed when null.</summary>
    public SigningIdentity WithExtension(string oid, string? value)
    {
        var extensions = new Dictionary<string, string>(Extensions, StringComparer.Ordinal);
        if (value is null)
        {
            extensions.Remove(oid);
        }
        else
        {
            extensions[oid] = value;
        }

        return this with { Extensions = extensions };
    }
}

/// <summary>A log's signing key (Rekor or CT) and its log ID: the SHA-256 of the key's SubjectPublicKeyInfo.</summary>
public sealed class TestTransparencyLog : IDisposable
{
    private readonly ECDsa _key;

    private TestTransparencyLog(ECDsa key, byte[] logId)
    {
        _key = key;
        LogId = logId;
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>The log's public key (<c>-----BEGIN PUBLIC KEY-----</c>), as <c>rekor.pubkey</c>/<c>ctlog.pubkey</c> hold it.</summary>
    public string PublicKeyPem { get; }

    public byte[] LogId { get; }

    public string LogIdHex => Convert.ToHexStringLower(LogId);

    public static TestTransparencyLog Create()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new TestTransparencyLog(key, SHA256.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>A forger: signs with this log's key but claims <paramref name="victim"/>'s log ID.</summary>
    public TestTransparencyLog Impersonating(TestTransparencyLog victim)
    {
        ArgumentNullException.ThrowIfNull(victim);
        var copy = ECDsa.Create();
        copy.ImportECPrivateKey(_key.ExportECPrivateKey(), out _);
        return new TestTransparencyLog(copy, victim.LogId);
    }

    /// <summary>ECDSA over SHA-256, ASN.1 DER, as Rekor and CT logs sign.</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) => _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public void Dispose() => _key.Dispose();
}

/// <summary>A certificate the test Fulcio issued, with the precertificate TBS its SCT signs (no SCT: an empty list).</summary>
public sealed record IssuedCertificate(X509Certificate2 Certificate, byte[] PrecertificateTbs, byte[] SctList, DateTimeOffset SctTimestamp);

/// <summary>
/// A Fulcio-like CA: a self-signed P-384 root and a P-384 intermediate that carries the code-signing EKU (as
/// Fulcio's does), issuing leaf certificates with an empty subject, a critical SAN, critical key usage
/// digitalSignature, EKU codeSigning, the Fulcio identity extensions and an embedded SCT list (RFC 6962 §3.3).
/// </summary>
public sealed class TestFulcio : IDisposable
{
    public const string SctListOid = "1.3.6.1.4.1.11129.2.4.2";
    public const string CodeSigningOid = "1.3.6.1.5.5.7.3.3";
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    private readonly ECDsa _intermediateKey;

    private TestFulcio(X509Certificate2 root, X509Certificate2 intermediate, ECDsa intermediateKey)
    {
        Root = root;
        Intermediate = intermediate;
        _intermediateKey = intermediateKey;
    }

    /// <summary>The root (public part only).</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The intermediate that signs leaves (public part only).</summary>
    public X509Certificate2 Intermediate { get; }

    /// <summary>The root as PEM: what a policy's <c>keyless.roots</c> holds.</summary>
    public string RootPem => PrivateSigstore.Pem(Root);

    /// <summary>What cosign writes into <c>dev.sigstore.cosign/chain</c>: the intermediate, then the root, no trailing newline.</summary>
    public string ChainPem => PrivateSigstore.Pem(Intermediate) + "\n" + PrivateSigstore.Pem(Root);

    public static TestFulcio Create(string name)
    {
        var now = PrivateSigstore.TruncateToSeconds(DateTimeOffset.UtcNow);
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest(new X500DistinguishedName($"O={name}, CN={name}"), rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 1, critical: true));
        var rootSki = new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, critical: false);
        rootRequest.CertificateExtensions.Add(rootSki);
        using var rootWithKey = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));

        var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var intermediateRequest = new CertificateRequest(new X500DistinguishedName($"O={name}, CN={name}-intermediate"), intermediateKey, HashAlgorithmName.SHA384);
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        intermediateRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CodeSigningOid)], critical: false));
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, critical: false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(rootSki));
        using var intermediate = intermediateRequest.Create(rootWithKey, now.AddDays(-1), now.AddYears(1), NewSerial());

        return new TestFulcio(
            X509CertificateLoader.LoadCertificate(rootWithKey.RawData),
            X509CertificateLoader.LoadCertificate(intermediate.RawData),
            intermediateKey);
    }

    /// <summary>
    /// Issues a leaf for <paramref name="publicKey"/>. The certificate is built twice from identical inputs (serial,
    /// validity, key, extensions in the same order): first without the SCT list, whose TBSCertificate is the
    /// precertificate <paramref name="ctLog"/> signs, then with the SCT list extension appended last. Without a CT
    /// log, the first certificate is the result.
    /// </summary>
    public IssuedCertificate Issue(PublicKey publicKey, SigningIdentity identity, DateTimeOffset notBefore, DateTimeOffset notAfter, TestTransparencyLog? ctLog, string extendedKeyUsage = CodeSigningOid)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        ArgumentNullException.ThrowIfNull(identity);
        var serial = NewSerial();
        var extensions = LeafExtensions(publicKey, identity, extendedKeyUsage);

        var precertificate = Build(publicKey, extensions, notBefore, notAfter, serial);
        var tbs = TbsCertificate(precertificate.RawData);
        var sctTimestamp = DateTimeOffset.FromUnixTimeMilliseconds(notBefore.ToUnixTimeMilliseconds() + 374);
        if (ctLog is null)
        {
            return new IssuedCertificate(precertificate, tbs, [], sctTimestamp);
        }

        precertificate.Dispose();
        var sctList = SignedCertificateTimestampList(ctLog, sctTimestamp, SHA256.HashData(Intermediate.PublicKey.ExportSubjectPublicKeyInfo()), tbs);

        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(sctList);
        extensions.Add(new X509Extension(SctListOid, writer.Encode(), critical: false));
        var certificate = Build(publicKey, extensions, notBefore, notAfter, serial);
        return new IssuedCertificate(certificate, tbs, sctList, sctTimestamp);
    }

    /// <summary>The DER TBSCertificate inside a certificate.</summary>
    public static byte[] TbsCertificate(byte[] certificateDer)
    {
        var certificate = new AsnReader(certificateDer, AsnEncodingRules.DER).ReadSequence();
        return certificate.ReadEncodedValue().ToArray();
    }

    public void Dispose()
    {
        _intermediateKey.Dispose();
        Root.Dispose();
        Intermediate.Dispose();
    }

    private X509Certificate2 Build(PublicKey publicKey, List<X509Extension> extensions, DateTimeOffset notBefore, DateTimeOffset notAfter, byte[] serial)
    {
        // Fulcio's leaves have an empty subject; the identity is in the (then critical) SAN.
        var request = new CertificateRequest(new X500DistinguishedName([0x30, 0x00]), publicKey, HashAlgorithmName.SHA384);
        foreach (var extension in extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        return request.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_intermediateKey), notBefore, notAfter, serial);
    }

    /// <summary>Fulcio's order: key usage, EKU, SKI, AKI, SAN, then the 1.3.6.1.4.1.57264.1.* extensions by arc.</summary>
    private List<X509Extension> LeafExtensions(PublicKey publicKey, SigningIdentity identity, string extendedKeyUsage)
    {
        var extensions = new List<X509Extension>
        {
            new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true),
            new X509EnhancedKeyUsageExtension([new Oid(extendedKeyUsage)], critical: false),
            new X509SubjectKeyIdentifierExtension(publicKey, critical: false),
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, includeKeyIdentifier: true, includeIssuerAndSerial: false),
            new X509Extension("2.5.29.17", SubjectAlternativeName(identity), critical: true),
        };

        var fulcio = new Dictionary<string, string>(identity.Extensions, StringComparer.Ordinal)
        {
            [SigningIdentity.IssuerV1Oid] = identity.Issuer,
        };
        if (!identity.LegacyIssuerOnly)
        {
            fulcio[SigningIdentity.IssuerV2Oid] = identity.Issuer;
        }

        foreach (var (oid, value) in fulcio.OrderBy(e => Arc(e.Key)))
        {
            extensions.Add(new X509Extension(oid, EncodeFulcioExtension(oid, value), critical: false));
        }

        return extensions;
    }

    /// <summary>Per Fulcio's docs/oid-info.md: .1.1–.1.6 are the raw string bytes, .1.8 onwards a DER UTF8String.</summary>
    public static byte[] EncodeFulcioExtension(string oid, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (Arc(oid) <= 6)
        {
            return Encoding.UTF8.GetBytes(value);
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteCharacterString(UniversalTagNumber.UTF8String, value);
        return writer.Encode();
    }

    private static int Arc(string oid) =>
        oid.StartsWith(SigningIdentity.FulcioArc, StringComparison.Ordinal)
            ? int.Parse(oid.AsSpan(SigningIdentity.FulcioArc.Length), NumberStyles.None, CultureInfo.InvariantCulture)
            : throw new ArgumentException($"{oid} is not a Fulcio extension (1.3.6.1.4.1.57264.1.*)", nameof(oid));

    /// <summary>GeneralNames with one rfc822Name [1] or uniformResourceIdentifier [6], written exactly as given.</summary>
    private static byte[] SubjectAlternativeName(SigningIdentity identity)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, identity.Subject, new Asn1Tag(TagClass.ContextSpecific, identity.IsUri ? 6 : 1));
        }

        return writer.Encode();
    }

    /// <summary>
    /// RFC 6962: a SignedCertificateTimestampList holding one v1 SCT whose signature covers the precert_entry
    /// (issuer_key_hash, the TBSCertificate without the SCT list) with no extensions.
    /// </summary>
    private static byte[] SignedCertificateTimestampList(TestTransparencyLog ctLog, DateTimeOffset timestamp, byte[] issuerKeyHash, byte[] tbs)
    {
        var milliseconds = (ulong)timestamp.ToUnixTimeMilliseconds();
        using var signed = new MemoryStream();
        signed.WriteByte(0); // sct_version v1
        signed.WriteByte(0); // signature_type certificate_timestamp
        WriteUInt64(signed, milliseconds);
        WriteUInt16(signed, 1); // entry_type precert_entry
        signed.Write(issuerKeyHash);
        signed.WriteByte((byte)(tbs.Length >> 16));
        signed.WriteByte((byte)(tbs.Length >> 8));
        signed.WriteByte((byte)tbs.Length);
        signed.Write(tbs);
        WriteUInt16(signed, 0); // CtExtensions, empty
        var signature = ctLog.Sign(signed.ToArray());

        using var sct = new MemoryStream();
        sct.WriteByte(0); // v1
        sct.Write(ctLog.LogId);
        WriteUInt64(sct, milliseconds);
        WriteUInt16(sct, 0); // extensions
        sct.WriteByte(4); // hash sha256
        sct.WriteByte(3); // signature ecdsa
        WriteUInt16(sct, checked((ushort)signature.Length));
        sct.Write(signature);
        var sctBytes = sct.ToArray();

        using var list = new MemoryStream();
        WriteUInt16(list, checked((ushort)(sctBytes.Length + 2)));
        WriteUInt16(list, checked((ushort)sctBytes.Length));
        list.Write(sctBytes);
        return list.ToArray();
    }

    private static void WriteUInt16(Stream stream, ushort value)
    {
        Span<byte> buffer = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(buffer, value);
        stream.Write(buffer);
    }

    private static void WriteUInt64(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(buffer, value);
        stream.Write(buffer);
    }

    /// <summary>20 random bytes, positive and without a leading zero byte (a minimal DER INTEGER, as Fulcio's).</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(20);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }
}

/// <summary>
/// cosign's <c>dev.sigstore.cosign/bundle</c>: the log's SignedEntryTimestamp over the RFC 8785 canonical JSON of
/// <c>{body, integratedTime, logID, logIndex}</c>, and that payload. A record, so that tests can tamper with a field
/// after signing (<c>bundle with { IntegratedTime = … }</c>).
/// </summary>
public sealed record TestRekorBundle(string SignedEntryTimestamp, string Body, long IntegratedTime, long LogIndex, string LogId)
{
    private static readonly JsonWriterOptions s_goLikeJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <summary>A bundle of <paramref name="body"/> signed by <paramref name="log"/> (under the log ID it claims).</summary>
    public static TestRekorBundle Create(TestTransparencyLog log, string body, long integratedTime, long logIndex)
    {
        ArgumentNullException.ThrowIfNull(log);
        var unsigned = new TestRekorBundle(string.Empty, body, integratedTime, logIndex, log.LogIdHex);
        return unsigned with { SignedEntryTimestamp = Convert.ToBase64String(log.Sign(unsigned.CanonicalPayload())) };
    }

    /// <summary>
    /// Base64 of a hashedrekord v0.0.1 entry, as Rekor stores it for cosign: the payload's SHA-256, the signature,
    /// and (for keyless) the signing certificate's PEM, base64-encoded.
    /// </summary>
    public static string HashedRekordBody(byte[] payload, string signatureBase64, string certificatePem)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, s_goLikeJson))
        {
            json.WriteStartObject();
            json.WriteString("apiVersion", "0.0.1");
            json.WriteString("kind", "hashedrekord");
            json.WriteStartObject("spec");
            json.WriteStartObject("data");
            json.WriteStartObject("hash");
            json.WriteString("algorithm", "sha256");
            json.WriteString("value", Convert.ToHexStringLower(SHA256.HashData(payload)));
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteStartObject("signature");
            json.WriteString("content", signatureBase64);
            json.WriteStartObject("publicKey");
            json.WriteString("content", Convert.ToBase64String(Encoding.UTF8.GetBytes(certificatePem)));
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Convert.ToBase64String(buffer.ToArray());
    }

    /// <summary>RFC 8785: keys in code-unit order; the values here (base64, hex, integers) need no escaping.</summary>
    public byte[] CanonicalPayload()
    {
        if (Body.Any(c => c is '"' or '\\' || c < 0x20) || LogId.Any(c => c is '"' or '\\' || c < 0x20))
        {
            throw new InvalidOperationException("the canonical form here covers base64 and hex strings only");
        }

        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"body":"{{Body}}","integratedTime":{{IntegratedTime}},"logID":"{{LogId}}","logIndex":{{LogIndex}}}"""));
    }

    /// <summary>The annotation value, in cosign's field order.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, s_goLikeJson))
        {
            json.WriteStartObject();
            json.WriteString("SignedEntryTimestamp", SignedEntryTimestamp);
            json.WriteStartObject("Payload");
            json.WriteString("body", Body);
            json.WriteNumber("integratedTime", IntegratedTime);
            json.WriteNumber("logIndex", LogIndex);
            json.WriteString("logID", LogId);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}

/// <summary>A keyless cosign signature: the payload, and everything cosign puts into the layer's annotations.</summary>
public sealed record KeylessSignature(byte[] Payload, string SignatureBase64, IssuedCertificate Issued, string CertificatePem, string ChainPem, TestRekorBundle? Bundle)
{
    public const string CertificateAnnotation = "dev.sigstore.cosign/certificate";
    public const string ChainAnnotation = "dev.sigstore.cosign/chain";
    public const string BundleAnnotation = "dev.sigstore.cosign/bundle";

    public X509Certificate2 Certificate => Issued.Certificate;

    /// <summary>The layer annotations, in cosign's (sorted) order; no bundle annotation when there is no bundle.</summary>
    public IReadOnlyDictionary<string, string> Annotations
    {
        get
        {
            var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                [CosignSigner.SignatureAnnotation] = SignatureBase64,
                [CertificateAnnotation] = CertificatePem,
                [ChainAnnotation] = ChainPem,
            };
            if (Bundle is not null)
            {
                annotations[BundleAnnotation] = Bundle.ToJson();
            }

            return annotations;
        }
    }
}

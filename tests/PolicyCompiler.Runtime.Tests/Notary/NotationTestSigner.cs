using System.Buffers.Text;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.Runtime.Tests.Notary;

/// <summary>
/// Makes Notary Project JWS envelopes the way Notation lays them out (signature-envelope-jws.md), with certificates
/// issued here: a root CA, an intermediate CA and a code-signing leaf, each with the extensions the specification asks
/// for. Tests change one thing at a time through the options to show each check refusing it.
/// </summary>
internal sealed class NotationTestSigner : IDisposable
{
    /// <param name="rsaKeySize">Give the leaf an RSA key of this size (for COSE PS256/384/512) instead of ECDSA P-256.</param>
    public NotationTestSigner(string name = "notation-test", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool leafIsCa = false, int? rsaKeySize = null)
    {
        var from = notBefore ?? DateTimeOffset.UtcNow.AddDays(-1);
        var to = notAfter ?? DateTimeOffset.UtcNow.AddYears(1);
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest($"CN={name} root, O=PolicyCompiler tests", rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Root = rootRequest.CreateSelfSigned(from.AddDays(-1), to.AddYears(1));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest($"CN={name} intermediate, O=PolicyCompiler tests", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using (var issued = intermediateRequest.Create(Root, from.AddHours(-12), to.AddMonths(6), [1]))
        {
            Intermediate = issued.CopyWithPrivateKey(intermediateKey);
        }

        Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        RsaKey = rsaKeySize is { } size ? RSA.Create(size) : null;
        var leafRequest = RsaKey is null
            ? new CertificateRequest($"CN={name} signer, O=PolicyCompiler tests", Key, HashAlgorithmName.SHA256)
            : new CertificateRequest($"CN={name} signer, O=PolicyCompiler tests", RsaKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (leafIsCa)
        {
            leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        }

        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false));
        // An RSA leaf under the ECDSA intermediate: Create(issuer certificate) wants matching key types, a generator does not.
        using var intermediateSigner = Intermediate.GetECDsaPrivateKey()!;
        Leaf = leafRequest.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(intermediateSigner), from, to, [2]);
    }

    /// <summary>A signer for a chain issued elsewhere (e.g. by a CA whose certificates name revocation endpoints).</summary>
    public NotationTestSigner(X509Certificate2 root, X509Certificate2 intermediate, X509Certificate2 leaf, ECDsa key)
    {
        Root = root;
        Intermediate = intermediate;
        Leaf = leaf;
        Key = key;
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2 Leaf { get; }

    public ECDsa Key { get; }

    public RSA? RsaKey { get; }

    public static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem();

    /// <summary>A JWS envelope signing <paramref name="mediaType"/>/<paramref name="digest"/>/<paramref name="size"/>.</summary>
    public byte[] Sign(string mediaType, string digest, long size, Action<JsonObject>? protectedHeader = null, Action<JsonObject>? payload = null, Action<JsonObject>? envelope = null)
    {
        var target = new JsonObject { ["targetArtifact"] = new JsonObject { ["digest"] = digest, ["mediaType"] = mediaType, ["size"] = size } };
        payload?.Invoke(target);
        var header = new JsonObject
        {
            ["alg"] = "ES256",
            ["crit"] = new JsonArray("io.cncf.notary.signingScheme"),
            ["cty"] = "application/vnd.cncf.notary.payload.v1+json",
            ["io.cncf.notary.signingScheme"] = "notary.x509",
            ["io.cncf.notary.signingTime"] = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture),
        };
        protectedHeader?.Invoke(header);
        var protectedText = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header.ToJsonString()));
        var payloadText = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(target.ToJsonString()));
        var signature = Key.SignData(Encoding.ASCII.GetBytes(protectedText + "." + payloadText), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var jws = new JsonObject
        {
            ["payload"] = payloadText,
            ["protected"] = protectedText,
            ["header"] = new JsonObject
            {
                ["x5c"] = new JsonArray(Convert.ToBase64String(Leaf.RawData), Convert.ToBase64String(Intermediate.RawData), Convert.ToBase64String(Root.RawData)),
                ["io.cncf.notary.signingAgent"] = "PolicyCompiler tests",
            },
            ["signature"] = Base64Url.EncodeToString(signature),
        };
        envelope?.Invoke(jws);
        return Encoding.UTF8.GetBytes(jws.ToJsonString());
    }

    /// <summary>A COSE header as written: labels (int or text) in order, each with the writer of its value.</summary>
    public sealed class CoseHeader : List<(object Label, Action<CborWriter> Value)>
    {
        public void Set(object label, Action<CborWriter> value)
        {
            RemoveAll(label);
            Add((label, value));
        }

        public void RemoveAll(object label) => RemoveAll(entry => entry.Label.Equals(label));

        public static Action<CborWriter> Text(string text) => w => w.WriteTextString(text);

        public static Action<CborWriter> Time(DateTimeOffset time) => w =>
        {
            w.WriteTag(CborTag.UnixTimeSeconds);
            w.WriteInt64(time.ToUnixTimeSeconds());
        };

        public static Action<CborWriter> Labels(params object[] labels) => w =>
        {
            w.WriteStartArray(labels.Length);
            foreach (var label in labels)
            {
                WriteLabel(w, label);
            }

            w.WriteEndArray();
        };

        internal static void WriteLabel(CborWriter w, object label)
        {
            if (label is int number)
            {
                w.WriteInt32(number);
            }
            else
            {
                w.WriteTextString((string)label);
            }
        }

        internal byte[] Encode()
        {
            // Lax, so that a test can write what a strict reader must refuse (a duplicate label).
            var w = new CborWriter(CborConformanceMode.Lax);
            Write(w);
            return w.Encode();
        }

        internal void Write(CborWriter w)
        {
            w.WriteStartMap(Count);
            foreach (var (label, value) in this)
            {
                WriteLabel(w, label);
                value(w);
            }

            w.WriteEndMap();
        }
    }

    /// <summary>
    /// A COSE_Sign1_Tagged envelope as notation-core-go lays it out (signature-envelope-cose.md): alg, crit, content
    /// type and the Notary parameters protected, times as tag 1, and x5chain (leaf, intermediate, root) unprotected.
    /// </summary>
    public byte[] SignCose(string mediaType, string digest, long size, Action<CoseHeader>? protectedHeader = null, Action<CoseHeader>? unprotectedHeader = null, Action<JsonObject>? payload = null, Func<byte[], byte[]>? signature = null)
    {
        var target = new JsonObject { ["targetArtifact"] = new JsonObject { ["digest"] = digest, ["mediaType"] = mediaType, ["size"] = size } };
        payload?.Invoke(target);
        var payloadBytes = Encoding.UTF8.GetBytes(target.ToJsonString());
        var header = new CoseHeader
        {
            (1, w => w.WriteInt32(RsaKey is null ? -7 : RsaKey.KeySize switch { 2048 => -37, 3072 => -38, _ => -39 })),
            (2, CoseHeader.Labels("io.cncf.notary.signingScheme")),
            (3, CoseHeader.Text("application/vnd.cncf.notary.payload.v1+json")),
            ("io.cncf.notary.signingScheme", CoseHeader.Text("notary.x509")),
            ("io.cncf.notary.signingTime", CoseHeader.Time(DateTimeOffset.UtcNow.AddMinutes(-5))),
        };
        protectedHeader?.Invoke(header);
        var protectedBytes = header.Encode();

        var structure = new CborWriter();
        structure.WriteStartArray(4);
        structure.WriteTextString("Signature1");
        structure.WriteByteString(protectedBytes);
        structure.WriteByteString([]);
        structure.WriteByteString(payloadBytes);
        structure.WriteEndArray();
        var toBeSigned = structure.Encode();
        var value = RsaKey is null
            ? Key.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            : RsaKey.SignData(toBeSigned, RsaKey.KeySize switch { 2048 => HashAlgorithmName.SHA256, 3072 => HashAlgorithmName.SHA384, _ => HashAlgorithmName.SHA512 }, RSASignaturePadding.Pss);
        value = signature?.Invoke(value) ?? value;

        var unprotected = new CoseHeader
        {
            (33, w =>
            {
                w.WriteStartArray(3);
                w.WriteByteString(Leaf.RawData);
                w.WriteByteString(Intermediate.RawData);
                w.WriteByteString(Root.RawData);
                w.WriteEndArray();
            }),
            ("io.cncf.notary.signingAgent", CoseHeader.Text("PolicyCompiler tests")),
        };
        unprotectedHeader?.Invoke(unprotected);

        var envelope = new CborWriter(CborConformanceMode.Lax);
        envelope.WriteTag((CborTag)18);
        envelope.WriteStartArray(4);
        envelope.WriteByteString(protectedBytes);
        unprotected.Write(envelope);
        envelope.WriteByteString(payloadBytes);
        envelope.WriteByteString(value);
        envelope.WriteEndArray();
        return envelope.Encode();
    }

    public void Dispose()
    {
        RsaKey?.Dispose();
        Key.Dispose();
        Leaf.Dispose();
        Intermediate.Dispose();
        Root.Dispose();
    }
}

using System.Buffers.Text;
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
    public NotationTestSigner(string name = "notation-test", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool leafIsCa = false)
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
        var leafRequest = new CertificateRequest($"CN={name} signer, O=PolicyCompiler tests", Key, HashAlgorithmName.SHA256);
        if (leafIsCa)
        {
            leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        }

        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false));
        Leaf = leafRequest.Create(Intermediate, from, to, [2]);
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2 Leaf { get; }

    public ECDsa Key { get; }

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

    public void Dispose()
    {
        Key.Dispose();
        Leaf.Dispose();
        Intermediate.Dispose();
        Root.Dispose();
    }
}

using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The test Sigstore deployment (<see cref="PrivateSigstore"/>) checked in process: its certificates, SCTs and
/// Rekor bundles against the runtime's own verification code and against a real keyless signature by cosign
/// (TestData/containers-image-cosign/fulcio-rekor-signature-1, see its NOTICE). When these pass and a keyless
/// end-to-end test fails, the fault is in what the webhook does with them, not in the test CA.
/// </summary>
public sealed class PrivateSigstoreTests : IDisposable
{
    private static readonly string s_digest = "sha256:" + new string('c', 64);

    private readonly PrivateSigstore _sigstore = PrivateSigstore.Create("unit");
    private readonly PrivateSigstore _other = PrivateSigstore.Create("unit-other");

    public void Dispose()
    {
        _sigstore.Dispose();
        _other.Dispose();
    }

    [Fact]
    public void LeafHasFulciosShapeAndItsIdentityReadsBackThroughTheRuntime()
    {
        var signature = Sign(KeylessImages.ReleaseWorkflow);
        var leaf = signature.Certificate;

        Assert.Equal(new byte[] { 0x30, 0x00 }, leaf.SubjectName.RawData);
        Assert.Equal(TimeSpan.FromMinutes(10), leaf.NotAfter - leaf.NotBefore);
        Assert.Equal(_sigstore.Fulcio.Intermediate.SubjectName.Name, leaf.IssuerName.Name);
        var keyUsage = Assert.IsType<X509KeyUsageExtension>(leaf.Extensions["2.5.29.15"]);
        Assert.True(keyUsage.Critical);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, keyUsage.KeyUsages);
        var eku = Assert.IsType<X509EnhancedKeyUsageExtension>(leaf.Extensions["2.5.29.37"]);
        Assert.Equal(new[] { TestFulcio.CodeSigningOid }, eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value!));
        Assert.True(leaf.Extensions["2.5.29.17"]!.Critical);
        Assert.Equal(TestFulcio.SctListOid, leaf.Extensions[^1].Oid!.Value);

        // Raw bytes up to .1.6, a DER UTF8String from .1.8 on (Fulcio's docs/oid-info.md).
        Assert.Equal(Encoding.UTF8.GetBytes(KeylessImages.GitHubIssuer), leaf.Extensions[SigningIdentity.IssuerV1Oid]!.RawData);
        Assert.Equal("push"u8.ToArray(), leaf.Extensions[SigningIdentity.GitHubWorkflowTriggerOid]!.RawData);
        var issuerV2 = leaf.Extensions[SigningIdentity.IssuerV2Oid]!.RawData;
        Assert.Equal(0x0C, issuerV2[0]);
        Assert.Equal(KeylessImages.GitHubIssuer, new AsnReader(issuerV2, AsnEncodingRules.DER).ReadCharacterString(UniversalTagNumber.UTF8String));

        var identity = FulcioCertificate.Read(leaf);
        Assert.Equal(new[] { KeylessImages.ReleaseWorkflow.Subject }, identity.Subjects);
        Assert.Equal(KeylessImages.GitHubIssuer, identity.Issuer);
        Assert.Equal("push", identity.Extension("githubWorkflowTrigger"));
        Assert.Equal("policy-compiler/e2e", identity.Extension("githubWorkflowRepository"));
        Assert.Equal("https://github.com/policy-compiler/e2e", identity.Extension("sourceRepositoryURI"));
        Assert.Equal("push", identity.Extension("buildTrigger"));
        Assert.Equal(KeylessImages.WorkflowSha, identity.Extension(SigningIdentity.GitHubWorkflowShaOid));
    }

    [Fact]
    public void EmailIdentityIsAnRfc822NameAndLegacyCertificatesCarryOnlyTheRawIssuer()
    {
        var leaf = Sign(KeylessImages.Alice with { LegacyIssuerOnly = true }).Certificate;

        var identity = FulcioCertificate.Read(leaf);
        Assert.Equal(new[] { "alice@signers.test.example" }, identity.Subjects);
        Assert.Equal(KeylessImages.IdentityIssuer, identity.Issuer);
        Assert.Null(leaf.Extensions[SigningIdentity.IssuerV2Oid]);
        var names = new AsnReader(leaf.Extensions["2.5.29.17"]!.RawData, AsnEncodingRules.DER).ReadSequence();
        Assert.Equal("alice@signers.test.example", names.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 1)));
        Assert.False(names.HasData);
    }

    [Fact]
    public void LeafChainsToItsRootForCodeSigningAndNotToAnotherRoot()
    {
        var leaf = Sign(KeylessImages.Alice).Certificate;

        Assert.True(BuildChain(leaf, _sigstore.Fulcio), "the leaf does not chain to its own root with the code-signing policy");
        Assert.False(BuildChain(leaf, _other.Fulcio), "the leaf chains to another deployment's root");
    }

    [Fact]
    public void EmbeddedSctVerifiesWithTheRuntimeUnderTheTrustedCtLogOnly()
    {
        var signature = Sign(KeylessImages.Alice);
        using var forger = _other.CtLog.Impersonating(_sigstore.CtLog);
        var forged = Sign(KeylessImages.Alice, new KeylessSigningOptions { CtLog = forger });

        // The runtime rebuilds the precertificate by removing the SCT list from the final certificate: the bytes the
        // CT log signed must come back exactly.
        Assert.Null(SignedCertificateTimestamps.Verify(signature.Certificate, _sigstore.Fulcio.Intermediate, Logs(_sigstore.CtLog)));
        Assert.Equal("the SCT comes from a CT log that is not trusted", SignedCertificateTimestamps.Verify(signature.Certificate, _sigstore.Fulcio.Intermediate, Logs(_other.CtLog)));
        Assert.Equal("the SCT signature does not verify with the CT log key", SignedCertificateTimestamps.Verify(forged.Certificate, _sigstore.Fulcio.Intermediate, Logs(_sigstore.CtLog)));
        Assert.Equal("the SCT signature does not verify with the CT log key", SignedCertificateTimestamps.Verify(signature.Certificate, _other.Fulcio.Intermediate, Logs(_sigstore.CtLog)));
    }

    [Fact]
    public void PrecertificateIsTheFinalTbsWithoutItsLastExtension()
    {
        var issued = Sign(KeylessImages.Alice).Issued;

        var finalTbs = TestFulcio.TbsCertificate(issued.Certificate.RawData);
        var (finalFields, finalExtensions) = ReadTbs(finalTbs);
        var (preFields, preExtensions) = ReadTbs(issued.PrecertificateTbs);

        Assert.Equal(preFields, finalFields);
        Assert.Equal(preExtensions, finalExtensions[..^1]);
        Assert.Equal(TestFulcio.SctListOid, new AsnReader(finalExtensions[^1], AsnEncodingRules.DER).ReadSequence().ReadObjectIdentifier());
    }

    [Fact]
    public void RekorBundleVerifiesWithTheRuntimeUnderTheTrustedLogKeyOnly()
    {
        var signature = Sign(KeylessImages.Alice);
        var bundleJson = signature.Annotations[KeylessSignature.BundleAnnotation];
        var signatureBytes = Convert.FromBase64String(signature.SignatureBase64);

        Assert.True(RekorBundle.TryParse(bundleJson, out var bundle, out var error), error);
        var check = bundle.Verify(signature.Payload, signatureBytes, signature.Certificate.RawData, RekorLogs(_sigstore.Rekor));

        Assert.True(check.Verified, check.Reason);
        Assert.Equal(signature.Bundle!.IntegratedTime, check.IntegratedTime.ToUnixTimeSeconds());
        Assert.Equal(new DateTimeOffset(signature.Certificate.NotBefore.ToUniversalTime()).AddSeconds(2), check.IntegratedTime);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Pem.Decode(_sigstore.Rekor.PublicKeyPem))), bundle.LogId);
        Assert.StartsWith("the Rekor bundle names log ", bundle.Verify(signature.Payload, signatureBytes, signature.Certificate.RawData, RekorLogs(_other.Rekor)).Reason, StringComparison.Ordinal);

        var tampered = signature.Bundle with { IntegratedTime = signature.Bundle.IntegratedTime - 60 };
        Assert.True(RekorBundle.TryParse(tampered.ToJson(), out var tamperedBundle, out _));
        Assert.Equal("the Rekor bundle's SignedEntryTimestamp does not verify with the log key", tamperedBundle.Verify(signature.Payload, signatureBytes, signature.Certificate.RawData, RekorLogs(_sigstore.Rekor)).Reason);
    }

    [Fact]
    public void KeylessSignatureVerifiesInProcessAsTheCompiledPolicyChecksIt()
    {
        var signature = Sign(KeylessImages.Alice);
        var expired = Sign(KeylessImages.Alice, new KeylessSigningOptions { CertificateNotBefore = DateTimeOffset.UtcNow.AddMinutes(-30), IntegratedTime = DateTimeOffset.UtcNow });
        var signer = new KeylessSigner(
            new KeylessIdentity(KeylessImages.IdentitySubject, null, KeylessImages.IdentityIssuer, null, null),
            roots: [X509CertificateLoader.LoadCertificate(_sigstore.Fulcio.Root.RawData)],
            ignoreSct: false,
            ctLogs: Logs(_sigstore.CtLog));
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey(PrivateSigstore.RekorUrl, VerificationKey.FromPem(_sigstore.Rekor.PublicKeyPem)) };

        var check = CosignVerifier.Verify([new CosignSignature(signature.Payload, signature.Annotations)], s_digest, signer, requirements, TimeProvider.System);
        var expiredCheck = CosignVerifier.Verify([new CosignSignature(expired.Payload, expired.Annotations)], s_digest, signer, requirements, TimeProvider.System);

        Assert.True(check.Verified, check.Reason);
        Assert.False(expiredCheck.Verified);
        Assert.StartsWith("certificate: the certificate was not valid at ", expiredCheck.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnnotationsHaveTheLayoutOfARealCosignKeylessSignature()
    {
        var real = LoadRealKeylessAnnotations();
        var ours = Sign(KeylessImages.Alice with { LegacyIssuerOnly = true }).Annotations;

        Assert.Equal(real.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var annotations in new[] { real, ours })
        {
            Assert.EndsWith("-----END CERTIFICATE-----\n", annotations[KeylessSignature.CertificateAnnotation], StringComparison.Ordinal);
            Assert.EndsWith("-----END CERTIFICATE-----", annotations[KeylessSignature.ChainAnnotation], StringComparison.Ordinal);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPem(annotations[KeylessSignature.ChainAnnotation]);
            Assert.Equal(2, chain.Count);
            Assert.Equal(chain[1].SubjectName.Name, chain[1].IssuerName.Name);
        }

        // Same JSON field names in the same order, at every level of the bundle and of its hashedrekord body.
        var realBundle = JsonNode.Parse(real[KeylessSignature.BundleAnnotation])!;
        var ourBundle = JsonNode.Parse(ours[KeylessSignature.BundleAnnotation])!;
        Assert.Equal(Shape(realBundle), Shape(ourBundle));
        var realBody = JsonNode.Parse(Convert.FromBase64String(realBundle["Payload"]!["body"]!.GetValue<string>()))!;
        var ourBody = JsonNode.Parse(Convert.FromBase64String(ourBundle["Payload"]!["body"]!.GetValue<string>()))!;
        Assert.Equal(Shape(realBody), Shape(ourBody));
        Assert.Equal(realBody["apiVersion"]!.GetValue<string>(), ourBody["apiVersion"]!.GetValue<string>());
        Assert.Equal(realBody["kind"]!.GetValue<string>(), ourBody["kind"]!.GetValue<string>());
        Assert.Equal(real[KeylessSignature.CertificateAnnotation], Encoding.UTF8.GetString(Convert.FromBase64String(realBody["spec"]!["signature"]!["publicKey"]!["content"]!.GetValue<string>())));
        Assert.Equal(ours[KeylessSignature.CertificateAnnotation], Encoding.UTF8.GetString(Convert.FromBase64String(ourBody["spec"]!["signature"]!["publicKey"]!["content"]!.GetValue<string>())));
        Assert.Equal(64, ourBundle["Payload"]!["logID"]!.GetValue<string>().Length);

        // The same extensions in the same order with the same criticality as the real (2023, issuer v1 only) leaf.
        using var realLeaf = X509Certificate2.CreateFromPem(real[KeylessSignature.CertificateAnnotation]);
        using var ourLeaf = X509Certificate2.CreateFromPem(ours[KeylessSignature.CertificateAnnotation]);
        Assert.Equal(Extensions(realLeaf), Extensions(ourLeaf));
        Assert.Equal(realLeaf.SubjectName.RawData, ourLeaf.SubjectName.RawData);
    }

    [Fact]
    public void KeylessPolicyTemplateWritesEveryKeylessField()
    {
        var yaml = KeylessPolicyTemplate.Create("p", "r", ["127.0.0.1:*/e2e/keyless-*"], new KeylessAttestor
        {
            Subject = "*@signers.test.example",
            SubjectRegExp = @"^a\.b$",
            Issuer = "https://issuer.test.example",
            IssuerRegExp = @"^https://x\.y$",
            AdditionalExtensions = [KeyValuePair.Create("githubWorkflowTrigger", "push")],
            RootsPem = _sigstore.Fulcio.RootPem,
            RekorUrl = PrivateSigstore.RekorUrl,
            RekorPublicKeyPem = _sigstore.Rekor.PublicKeyPem,
            CtLogPublicKeyPem = _sigstore.CtLog.PublicKeyPem,
        });

        var lines = yaml.Split('\n');
        Assert.Contains("          - keyless:", lines);
        Assert.Contains("              subject: \"*@signers.test.example\"", lines);
        Assert.Contains("              subjectRegExp: '^a\\.b$'", lines);
        Assert.Contains("              issuer: \"https://issuer.test.example\"", lines);
        Assert.Contains("              issuerRegExp: '^https://x\\.y$'", lines);
        Assert.Contains("                \"githubWorkflowTrigger\": \"push\"", lines);
        Assert.Contains("              roots: |-", lines);
        Assert.Contains("                -----BEGIN CERTIFICATE-----", lines);
        Assert.Contains("                url: \"https://rekor.test.example\"", lines);
        Assert.Equal(2, lines.Count(l => l == "                pubkey: |-"));
        Assert.Equal(2, lines.Count(l => l == "                  -----BEGIN PUBLIC KEY-----"));
    }

    private KeylessSignature Sign(SigningIdentity identity, KeylessSigningOptions? options = null) =>
        _sigstore.Sign(CosignSigner.CreatePayload("127.0.0.1:5000/e2e/unit", s_digest), identity, options);

    /// <summary>A log as the compiled policy declares it: known by its PEM key only (<c>TransparencyLog.FromKey</c>).</summary>
    private static TransparencyLog[] Logs(TestTransparencyLog log) => [TransparencyLog.FromKey("ctlog", VerificationKey.FromPem(log.PublicKeyPem))];

    private static TransparencyLog[] RekorLogs(TestTransparencyLog log) => [TransparencyLog.FromKey(PrivateSigstore.RekorUrl, VerificationKey.FromPem(log.PublicKeyPem))];

    private static bool BuildChain(X509Certificate2 leaf, TestFulcio trusted)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = leaf.NotBefore;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(TestFulcio.CodeSigningOid));
        chain.ChainPolicy.CustomTrustStore.Add(trusted.Root);
        chain.ChainPolicy.ExtraStore.Add(trusted.Intermediate);
        return chain.Build(leaf);
    }

    /// <summary>The TBSCertificate's fields before the extensions, and each extension's DER.</summary>
    private static (byte[][] Fields, byte[][] Extensions) ReadTbs(byte[] tbs)
    {
        var reader = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
        var fields = new List<byte[]>();
        var extensions = new List<byte[]>();
        var extensionsTag = new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true);
        while (reader.HasData)
        {
            if (reader.PeekTag().HasSameClassAndValue(extensionsTag))
            {
                var list = reader.ReadSequence(extensionsTag).ReadSequence();
                while (list.HasData)
                {
                    extensions.Add(list.ReadEncodedValue().ToArray());
                }
            }
            else
            {
                fields.Add(reader.ReadEncodedValue().ToArray());
            }
        }

        return ([.. fields], [.. extensions]);
    }

    private static List<string> Extensions(X509Certificate2 certificate) =>
        [.. certificate.Extensions.Select(e => $"{e.Oid!.Value}{(e.Critical ? " critical" : string.Empty)}")];

    /// <summary>Property names with their paths, in document order.</summary>
    private static List<string> Shape(JsonNode node, string path = "")
    {
        var shape = new List<string>();
        if (node is JsonObject json)
        {
            foreach (var (name, value) in json)
            {
                shape.Add(path + "/" + name + ":" + value?.GetValueKind());
                if (value is not null)
                {
                    shape.AddRange(Shape(value, path + "/" + name));
                }
            }
        }

        return shape;
    }

    private static Dictionary<string, string> LoadRealKeylessAnnotations()
    {
        var bytes = File.ReadAllBytes(RepositoryPaths.TestData("containers-image-cosign", "fulcio-rekor-signature-1"));
        var header = "\0sigstore-json\n"u8;
        Assert.True(bytes.AsSpan().StartsWith(header), "fulcio-rekor-signature-1 does not start with NUL + sigstore-json");
        var json = JsonNode.Parse(bytes.AsSpan(header.Length))!;
        return json["annotations"]!.AsObject().ToDictionary(a => a.Key, a => a.Value!.GetValue<string>(), StringComparer.Ordinal);
    }

    private static class Pem
    {
        public static byte[] Decode(string pem)
        {
            var fields = PemEncoding.Find(pem);
            return Convert.FromBase64String(pem[fields.Base64Data]);
        }
    }
}

using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The test signer checked against a signature the real cosign made (TestData/containers-image-cosign,
/// see its NOTICE): same payload bytes, same signature encoding, same layer annotation.
/// </summary>
public sealed class CosignFormatTests
{
    [Fact]
    public void PayloadIsByteForByteWhatCosignWrites()
    {
        var real = RealSignature.Load();
        var claims = JsonNode.Parse(real.Payload)!;
        var reference = claims["critical"]!["identity"]!["docker-reference"]!.GetValue<string>();
        var digest = claims["critical"]!["image"]!["docker-manifest-digest"]!.GetValue<string>();

        var ours = CosignSigner.CreatePayload(reference, digest);

        Assert.Equal(Encoding.UTF8.GetString(real.Payload), Encoding.UTF8.GetString(ours));
        Assert.Equal(real.Payload, ours);
    }

    [Fact]
    public void RealPayloadNamesTheDigestOfItsManifest()
    {
        var real = RealSignature.Load();
        var manifest = File.ReadAllBytes(RepositoryPaths.TestData("containers-image-cosign", "manifest.json"));

        var digest = JsonNode.Parse(real.Payload)!["critical"]!["image"]!["docker-manifest-digest"]!.GetValue<string>();

        Assert.Equal(Digests.Sha256(manifest), digest);
    }

    [Fact]
    public void RealSignatureUsesTheEncodingAndAnnotationOfTheTestSigner()
    {
        var real = RealSignature.Load();
        var publicKey = File.ReadAllText(RepositoryPaths.TestData("containers-image-cosign", "cosign.pub"));

        Assert.Equal(MediaTypes.CosignSimpleSigning, real.MimeType);
        Assert.Equal([CosignSigner.SignatureAnnotation], real.Annotations.Keys);
        Assert.True(CosignSigner.Verify(publicKey, real.Payload, real.Annotations[CosignSigner.SignatureAnnotation]), "cosign's DER signature does not verify the way the test signer's do");

        var tampered = (byte[])real.Payload.Clone();
        tampered[^2] ^= 1;
        Assert.False(CosignSigner.Verify(publicKey, tampered, real.Annotations[CosignSigner.SignatureAnnotation]));
    }

    [Fact]
    public void TestSignerSignaturesVerifyUnderItsPublicKeyOnly()
    {
        using var signer = CosignSigner.Generate();
        using var other = CosignSigner.Generate();
        var payload = CosignSigner.CreatePayload("127.0.0.1:5000/e2e/app", "sha256:" + new string('a', 64));

        var signature = signer.Sign(payload);

        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", signer.PublicKeyPem, StringComparison.Ordinal);
        Assert.True(CosignSigner.Verify(signer.PublicKeyPem, payload, signature));
        Assert.False(CosignSigner.Verify(other.PublicKeyPem, payload, signature));
        // DER: a SEQUENCE of two INTEGERs, as cosign writes (not the 64-byte IEEE P1363 form).
        Assert.Equal(0x30, Convert.FromBase64String(signature)[0]);
    }

    [Fact]
    public void PayloadWithAnnotationsSortsThemLikeGo()
    {
        var payload = CosignSigner.CreatePayload("r/app", "sha256:" + new string('b', 64), new Dictionary<string, string> { ["z"] = "1", ["a"] = "2" });

        Assert.EndsWith("""},"optional":{"a":"2","z":"1"}}""", Encoding.UTF8.GetString(payload), StringComparison.Ordinal);
    }

    /// <summary>containers/image's storage form: a NUL byte, <c>sigstore-json</c>, a newline, then JSON.</summary>
    private sealed record RealSignature(string MimeType, byte[] Payload, IReadOnlyDictionary<string, string> Annotations)
    {
        public static RealSignature Load()
        {
            var bytes = File.ReadAllBytes(RepositoryPaths.TestData("containers-image-cosign", "signature-1"));
            var header = "\0sigstore-json\n"u8;
            Assert.True(bytes.AsSpan().StartsWith(header), "signature-1 does not start with NUL + sigstore-json");
            var json = JsonNode.Parse(bytes.AsSpan(header.Length))!;
            return new RealSignature(
                json["mimeType"]!.GetValue<string>(),
                Convert.FromBase64String(json["payload"]!.GetValue<string>()),
                json["annotations"]!.AsObject().ToDictionary(a => a.Key, a => a.Value!.GetValue<string>(), StringComparer.Ordinal));
        }
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// <c>failurePolicy: Ignore</c> admits an image whose verification ended in an error (an outage, the deadline). Whoever
/// can push to a repository must not be able to turn a failed verification into such an error with content that makes
/// a parser or a key import throw. These policies use Ignore, so an error would show as an admission with a warning.
/// Also: cosign attestation advisories, end to end through the registry.
/// </summary>
public sealed class FailureVersusErrorTests
{
    private const string Provenance = "https://slsa.dev/provenance/v1";

    private static byte[] Envelope(ECDsa key, byte[] statement, string payloadType = DsseEnvelope.InTotoPayloadType)
    {
        var signature = key.SignData(DsseEnvelope.PreAuthenticationEncoding(payloadType, statement), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return Encoding.UTF8.GetBytes(new JsonObject
        {
            ["payloadType"] = payloadType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new JsonArray(new JsonObject { ["keyid"] = string.Empty, ["sig"] = Convert.ToBase64String(signature) }),
        }.ToJsonString());
    }

    private static byte[] Statement(string digest, string predicateType = Provenance) => Encoding.UTF8.GetBytes(new JsonObject
    {
        ["_type"] = InTotoStatement.StatementV1,
        ["predicateType"] = predicateType,
        ["subject"] = new JsonArray(new JsonObject { ["name"] = HostileRegistry.Host + "/" + Repository, ["digest"] = new JsonObject { ["sha256"] = digest["sha256:".Length..] } }),
        ["predicate"] = new JsonObject { ["builder"] = new JsonObject { ["id"] = "https://builder.test" } },
    }.ToJsonString());

    [Fact]
    public async Task ControlSignedAttestationIsAdmittedUnderIgnore()
    {
        using var h = new HostileHarness(FailurePolicy.Ignore, predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushAttestationLayers(Repository, digest, [Envelope(h.Signer, Statement(digest))]);

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Null(response.Warnings);
    }

    /// <summary>The documented meaning of Ignore, asserted so that the cases below are known to be able to fail.</summary>
    [Fact]
    public async Task RegistryOutageIsAdmittedWithAWarningUnderIgnore()
    {
        using var h = new HostileHarness(FailurePolicy.Ignore);
        h.Registry.Lie(_ => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("down") });

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed);
        // Kyverno's warning for a rule error it ignored: "policy <policy>.<rule>: <message>".
        var warning = Assert.Single(response.Warnings!);
        Assert.StartsWith("policy hostile.check-signature: failed to verify image ", warning, StringComparison.Ordinal);
    }

    /// <summary>
    /// An unsigned envelope whose strings are not valid Unicode: the DSSE parser used to throw before any signature was
    /// checked, which made the verdict an error, admitted under Ignore.
    /// </summary>
    [Theory]
    [InlineData("{\"payloadType\":\"\\uD800\",\"payload\":\"\",\"signatures\":[]}")]
    [InlineData("{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"\\uDC00\",\"signatures\":[]}")]
    public async Task EnvelopeThatIsNotUnicodeIsAFailureEvenUnderIgnore(string envelope)
    {
        using var h = new HostileHarness(FailurePolicy.Ignore, predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushAttestationLayers(Repository, digest, [Encoding.UTF8.GetBytes(envelope)]);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("malformed", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvelopeWithInvalidUtf8IsAFailureEvenUnderIgnore()
    {
        using var h = new HostileHarness(FailurePolicy.Ignore, predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        byte[] envelope = [.. "{\"payloadType\":\"application/vnd.in-toto"u8, 0xFF, 0xFE, .. "\",\"payload\":\"\",\"signatures\":[]}"u8];
        h.Registry.PushAttestationLayers(Repository, digest, [envelope]);

        Denied(await h.MutateAsync(Image(":v1")));
    }

    /// <summary>
    /// A <c>.sig</c> layer carrying a certificate whose key is on P-224 (chained to the trusted root, so that only the
    /// key type is wrong): the key import used to throw out of the verifier, an error admitted under Ignore.
    /// </summary>
    [Fact]
    public async Task SigningCertificateWithAnUnsupportedKeyIsAFailureEvenUnderIgnore()
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Hostile Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var leafKey = ECDsa.Create(ECCurve.CreateFromFriendlyName("nistP224"));
        var leafRequest = new CertificateRequest("CN=signer", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
        using var leaf = leafRequest.Create(root.SubjectName, X509SignatureGenerator.CreateForECDsa(rootKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3]);
        using var h = new HostileHarness(FailurePolicy.Ignore, signer: new CertificateSigner(null, [root], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null));
        var digest = h.Registry.PushImage(Repository, "v1");
        var payload = HostileRegistry.Payload(Repository, digest);
        h.Registry.PushSignatureLayers(Repository, digest, [(payload, (IReadOnlyDictionary<string, string>)new Dictionary<string, string>
        {
            [CosignSignature.SignatureAnnotation] = Convert.ToBase64String(leafKey.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
            [CosignSignature.CertificateAnnotation] = leaf.ExportCertificatePem(),
        })]);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("not supported", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The backstop behind the parser fixes: whatever a check throws while reading registry content (here a signer
    /// policy standing in for a parser bug not found yet) is a failure, not an error that Ignore admits.
    /// </summary>
    [Fact]
    public async Task AnyExceptionWhileCheckingSignaturesIsAFailureEvenUnderIgnore()
    {
        using var h = new HostileHarness(FailurePolicy.Ignore, signer: new ThrowingSigner());
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("could not be checked (FormatException", message, StringComparison.Ordinal);
    }

    private sealed class ThrowingSigner : SignerPolicy
    {
        public override SignerIdentity? Resolve(CosignSignature signature, out string? error) =>
            throw new FormatException("a parser gave up on hostile content");
    }

    /// <summary>GHSA-vjxv-45g9-9296 / CVE-2022-35929, end to end: only an SBOM attestation exists; provenance is required.</summary>
    [Fact]
    public async Task AttestationOfAnotherPredicateTypeIsDenied_GHSA_vjxv_45g9_9296()
    {
        using var h = new HostileHarness(predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushAttestationLayers(Repository, digest, [Envelope(h.Signer, Statement(digest, "https://cyclonedx.org/bom"))]);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("attestations not found for predicate type " + Provenance, message, StringComparison.Ordinal);
    }

    /// <summary>An image signature is not an attestation: with only a <c>.sig</c>, an attestation requirement fails.</summary>
    [Fact]
    public async Task ImageSignatureAloneDoesNotSatisfyAnAttestationRequirement()
    {
        using var h = new HostileHarness(predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("no attestations found", message, StringComparison.Ordinal);
    }

    /// <summary>A genuine attestation about another image, replayed onto this image's <c>.att</c> tag.</summary>
    [Fact]
    public async Task AttestationAboutAnotherDigestIsDenied()
    {
        using var h = new HostileHarness(predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        var other = h.Registry.PushImage(Repository, "other", "other");
        h.Registry.PushAttestationLayers(Repository, digest, [Envelope(h.Signer, Statement(other))]);

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("subject does not name " + digest, message, StringComparison.Ordinal);
    }

    /// <summary>CVE-2023-46737 class, for attestations: thousands of layers in the <c>.att</c> manifest.</summary>
    [Fact]
    public async Task AttestationManifestWithThousandsOfLayersIsRefused_CVE_2023_46737()
    {
        using var h = new HostileHarness(predicateType: Provenance);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushAttestationLayers(Repository, digest, Enumerable.Repeat(Envelope(h.Signer, Statement(digest)), 3000));

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("3000 layers", message, StringComparison.Ordinal);
        Assert.Equal(0, h.Registry.Count(r => r.IsBlob));
    }
}

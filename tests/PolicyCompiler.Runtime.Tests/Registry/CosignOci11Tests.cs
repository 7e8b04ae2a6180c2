using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// <c>cosignOCI11</c> against the real docker-registry: cosign signatures attached as OCI 1.1 referrers the way
/// <c>cosign sign --registry-referrers-mode=oci-1-1</c> writes them (the <c>.sig</c> manifest with
/// <c>config.mediaType</c> set to <c>application/vnd.dev.cosign.artifact.sig.v1+json</c> and the image as
/// <c>subject</c>), found through the referrers tag schema that distribution 2.x needs, with cosign's fallback to the tag.
/// </summary>
public sealed class CosignOci11Tests(DockerRegistryFixture fixture) : IClassFixture<DockerRegistryFixture>, IDisposable
{
    private const string SimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";

    private readonly ECDsa _signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly RegistryClient _client = fixture.CreateClient();

    private DockerRegistryProcess Registry => fixture.Registry;

    public void Dispose()
    {
        _signer.Dispose();
        _client.Dispose();
    }

    [Fact]
    public async Task ASignatureAttachedAsAReferrerVerifiesWithCosignOci11Only()
    {
        var repository = "apps/oci11-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        var payload = Payload(repository, digest);
        await AttachAsync(repository, digest, payload, Sign(payload));
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");
        var key = VerificationKey.FromPem(_signer.ExportSubjectPublicKeyInfoPem());

        var withOci11 = await VerifyAsync(image, digest, Entry(key, cosignOci11: true));
        var withoutOci11 = await VerifyAsync(image, digest, Entry(key, cosignOci11: false));

        Assert.Equal(VerificationStatus.Pass, withOci11.Status);
        Assert.Equal(VerificationStatus.Fail, withoutOci11.Status);
        Assert.EndsWith("signature not found", withoutOci11.Message, StringComparison.Ordinal);
    }

    /// <summary>A signature the real cosign made (TestData/containers-image-cosign, see its NOTICE), re-attached as cosign's OCI 1.1 mode does.</summary>
    [Fact]
    public async Task ARealCosignSignatureVerifiesAsAReferrerOfItsDigest()
    {
        const string Fixture = "dir-img-cosign-valid";
        var repository = "apps/oci11-real-" + Unique();
        var digest = CosignFixtures.ManifestDigest(Fixture);
        var real = CosignFixtures.Signatures(Fixture).Single();
        await AttachAsync(repository, digest, real.Payload, real.Annotations[CosignSignature.SignatureAnnotation]);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}@{digest}");

        var genuine = await VerifyAsync(image, digest, Entry(CosignFixtures.Key("cosign.pub"), cosignOci11: true));
        var otherKey = await VerifyAsync(image, digest, Entry(CosignFixtures.Key("cosign2.pub"), cosignOci11: true));

        Assert.Equal(VerificationStatus.Pass, genuine.Status);
        Assert.Equal(VerificationStatus.Fail, otherKey.Status);
        Assert.Contains("invalid signature", otherKey.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithCosignOci11TheTagIsStillReadWhenNoReferrerVerifies()
    {
        var repository = "apps/oci11-fallback-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        await Registry.PushSignatureAsync(_signer, repository, digest, repository);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");

        var result = await VerifyAsync(image, digest, Entry(VerificationKey.FromPem(_signer.ExportSubjectPublicKeyInfoPem()), cosignOci11: true));

        Assert.Equal(VerificationStatus.Pass, result.Status);
    }

    [Fact]
    public async Task AListedReferrerWhoseManifestNamesAnotherSubjectDoesNotCount()
    {
        var repository = "apps/oci11-forged-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        var other = await Registry.PushImageAsync(repository, "v2");
        var payload = Payload(repository, digest);

        // A correctly signed payload for this digest, but the manifest names another image: the listing lies.
        await AttachAsync(repository, digest, payload, Sign(payload), subjectDigest: other);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");

        var result = await VerifyAsync(image, digest, Entry(VerificationKey.FromPem(_signer.ExportSubjectPublicKeyInfoPem()), cosignOci11: true));

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.EndsWith("signature not found", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AReferrerSignatureForAnotherDigestIsTheReasonGiven()
    {
        var repository = "apps/oci11-digest-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        var other = await Registry.PushImageAsync(repository, "v2");
        var payload = Payload(repository, other);
        await AttachAsync(repository, digest, payload, Sign(payload));
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");

        var result = await VerifyAsync(image, digest, Entry(VerificationKey.FromPem(_signer.ExportSubjectPublicKeyInfoPem()), cosignOci11: true));

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains($"signed payload names digest {other}, not {digest}", result.Message, StringComparison.Ordinal);
    }

    private string Sign(byte[] payload) => Convert.ToBase64String(_signer.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

    private byte[] Payload(string repository, string digest) => Encoding.UTF8.GetBytes(
        $$$"""{"critical":{"identity":{"docker-reference":"{{{Registry.Host}}}/{{{repository}}}"},"image":{"docker-manifest-digest":"{{{digest}}}"},"type":"cosign container image signature"},"optional":null}""");

    /// <summary>What cosign's WriteSignaturesExperimentalOCI puts in the registry: the signature image's manifest, retyped, with a subject.</summary>
    private async Task AttachAsync(string repository, string digest, byte[] payload, string signature, string? subjectDigest = null)
    {
        var layer = await Registry.PushBlobAsync(repository, payload);
        var config = await Registry.PushBlobAsync(repository, Encoding.UTF8.GetBytes($$$"""{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["{{{layer.Digest}}}"]},"config":{}}"""));
        subjectDigest ??= digest;

        // The real fixture's image is not in the registry (its layers are not part of the fixture): size unknown.
        int subjectSize;
        try
        {
            subjectSize = (await _client.GetManifestAsync(Registry.Host, repository, subjectDigest, CancellationToken.None)).Content.Length;
        }
        catch (RegistryException e) when (e.Failure == RegistryFailure.NotFound)
        {
            subjectSize = 0;
        }
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = DockerRegistryProcess.OciManifest,
            ["config"] = new JsonObject { ["mediaType"] = CosignSignatureStore.SignatureArtifactType, ["size"] = config.Size, ["digest"] = config.Digest },
            ["layers"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = SimpleSigning,
                ["size"] = layer.Size,
                ["digest"] = layer.Digest,
                ["annotations"] = new JsonObject { [CosignSignature.SignatureAnnotation] = signature },
            }),
            ["subject"] = new JsonObject
            {
                ["mediaType"] = DockerRegistryProcess.OciManifest,
                ["size"] = subjectSize,
                ["digest"] = subjectDigest,
            },
        };
        await Registry.PushReferrerAsync(repository, digest, manifest);
    }

    private static string Unique() => DockerRegistryFixture.Unique();

    private async Task<ImageVerificationResult> VerifyAsync(ImageReference image, string digest, ImageVerificationDefinition entry)
    {
        var verifier = new ImageVerifier(_client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System);
        var rule = new RuleDefinition("check-signature", _ => true, [entry]);
        var policy = new PolicyDefinition("oci11-tests", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "oci11-tests.yaml", [rule]);
        return await verifier.VerifyAsync(policy, rule, entry, image, digest, CancellationToken.None);
    }

    private static ImageVerificationDefinition Entry(VerificationKey key, bool cosignOci11)
    {
        var attestor = new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", key);
        return new ImageVerificationDefinition(
            "verifyImages[0]",
            _ => true,
            [new AttestorSetDefinition(".attestors[0]", 1, ImmutableArray.Create<AttestorDefinition>(attestor))],
            mutateDigest: true,
            verifyDigest: true,
            required: true,
            repository: null,
            cosignOci11: cosignOci11);
    }
}

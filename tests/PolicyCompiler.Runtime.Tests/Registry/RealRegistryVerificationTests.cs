using System.Collections.Immutable;
using System.Security.Cryptography;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>One real docker-registry for the tests of <see cref="RealRegistryVerificationTests"/>.</summary>
public sealed class DockerRegistryFixture : IAsyncLifetime
{
    private DockerRegistryProcess? _registry;

    internal DockerRegistryProcess Registry => _registry ?? throw new InvalidOperationException("the registry has not started");

    public async Task InitializeAsync() => _registry = await DockerRegistryProcess.StartAsync();

    public Task DisposeAsync()
    {
        _registry?.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A registry client that may speak plain HTTP to this registry.</summary>
    internal RegistryClient CreateClient()
    {
        var options = new RegistryOptions();
        options.InsecureRegistries.Add(Registry.Host);
        return new RegistryClient(options);
    }

    /// <summary>A repository name part no other test uses.</summary>
    internal static string Unique() => Guid.NewGuid().ToString("N")[..10];
}

/// <summary>
/// The registry client, signature store and image verifier against the real docker-registry: signatures kept in a
/// repository of their own (a rule's or attestor's <c>repository</c>, cosign's <c>COSIGN_REPOSITORY</c>), and a
/// multi-platform index, whose tag resolves to the index digest that cosign signs.
/// </summary>
public sealed class RealRegistryVerificationTests(DockerRegistryFixture fixture) : IClassFixture<DockerRegistryFixture>, IDisposable
{
    private readonly ECDsa _signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly RegistryClient _client = fixture.CreateClient();

    private DockerRegistryProcess Registry => fixture.Registry;

    public void Dispose()
    {
        _signer.Dispose();
        _stranger.Dispose();
        _client.Dispose();
    }

    [Fact]
    public async Task SignaturesInASeparateRepositoryAreReadFromThere()
    {
        var repository = "apps/separate-" + Unique();
        var signatures = "signatures/separate-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        await Registry.PushSignatureAsync(_signer, repository, digest, signatures);
        var store = new CosignSignatureStore(_client);

        var inSignatureRepository = await store.GetSignaturesAsync(Registry.Host, signatures, digest, CancellationToken.None);
        var inImageRepository = await store.GetSignaturesAsync(Registry.Host, repository, digest, CancellationToken.None);

        var signature = Assert.Single(inSignatureRepository);
        Assert.Empty(inImageRepository);
        Assert.Contains(digest, System.Text.Encoding.UTF8.GetString(signature.Payload), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RuleOrAttestorRepositoryDecidesWhereSignaturesAreRead()
    {
        var repository = "apps/rule-repo-" + Unique();
        var signatures = "signatures/rule-repo-" + Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        await Registry.PushSignatureAsync(_signer, repository, digest, signatures);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");

        var withRepository = await VerifyAsync(image, Entry(_signer, repository: $"{Registry.Host}/{signatures}"));
        var withoutRepository = await VerifyAsync(image, Entry(_signer, repository: null));
        var attestorRepository = await VerifyAsync(image, Entry(_signer, repository: null, attestorRepository: $"{Registry.Host}/{signatures}"));
        var wrongKey = await VerifyAsync(image, Entry(_stranger, repository: $"{Registry.Host}/{signatures}"));

        Assert.Equal(VerificationStatus.Pass, withRepository.Status);
        Assert.Equal(digest, withRepository.Digest);
        Assert.Equal(VerificationStatus.Fail, withoutRepository.Status);
        Assert.EndsWith(".attestors[0].entries[0].keys: signature not found", withoutRepository.Message, StringComparison.Ordinal);
        Assert.Equal(VerificationStatus.Pass, attestorRepository.Status);
        Assert.Equal(VerificationStatus.Fail, wrongKey.Status);
        Assert.Contains("invalid signature", wrongKey.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TagOfAMultiPlatformIndexResolvesToTheIndexAndItsSignatureIsFound()
    {
        var repository = "apps/multiarch-" + Unique();
        var (index, children) = await Registry.PushIndexAsync(repository, "v1");
        await Registry.PushSignatureAsync(_signer, repository, index, repository);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");
        var verifier = Verifier();

        var manifest = await _client.GetManifestAsync(Registry.Host, repository, "v1", CancellationToken.None);
        var resolved = await verifier.ResolveDigestAsync(image, CancellationToken.None);
        var result = await VerifyAsync(image, Entry(_signer, repository: null), resolved);

        Assert.Equal(DockerRegistryProcess.OciIndex, manifest.MediaType);
        Assert.Equal(index, manifest.Digest);
        Assert.Equal(index, resolved);
        Assert.DoesNotContain(resolved, children);
        Assert.Equal(VerificationStatus.Pass, result.Status);
        Assert.Equal(index, result.Digest);
    }

    [Fact]
    public async Task SignatureOfOnePlatformDoesNotVerifyTheIndex()
    {
        var repository = "apps/multiarch-child-" + Unique();
        var (index, children) = await Registry.PushIndexAsync(repository, "v1");
        await Registry.PushSignatureAsync(_signer, repository, children[0], repository);
        var image = ImageReference.Parse($"{Registry.Host}/{repository}:v1");

        var resolved = await Verifier().ResolveDigestAsync(image, CancellationToken.None);
        var result = await VerifyAsync(image, Entry(_signer, repository: null), resolved);

        Assert.Equal(index, resolved);
        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains("signature not found", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingRepositoryIsNotFoundNotAnOutage()
    {
        var error = await Assert.ThrowsAsync<RegistryException>(() => _client.GetManifestAsync(Registry.Host, "apps/absent-" + Unique(), "v1", CancellationToken.None));

        Assert.Equal(RegistryFailure.NotFound, error.Failure);
        Assert.False(error.IsTransient);
    }

    private static string Unique() => DockerRegistryFixture.Unique();

    private ImageVerifier Verifier() =>
        new(_client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System);

    private async Task<ImageVerificationResult> VerifyAsync(ImageReference image, ImageVerificationDefinition entry, string? digest = null)
    {
        var verifier = Verifier();
        digest ??= await verifier.ResolveDigestAsync(image, CancellationToken.None);
        var rule = new RuleDefinition("check-signature", _ => true, [entry]);
        var policy = new PolicyDefinition("registry-tests", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "registry-tests.yaml", [rule]);
        return await verifier.VerifyAsync(policy, rule, entry, image, digest, CancellationToken.None);
    }

    private static ImageVerificationDefinition Entry(ECDsa key, string? repository, string? attestorRepository = null)
    {
        var publicKey = VerificationKey.FromPem(key.ExportSubjectPublicKeyInfoPem());
        var attestor = new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", publicKey, repository: attestorRepository);
        return new ImageVerificationDefinition(
            "verifyImages[0]",
            _ => true,
            [new AttestorSetDefinition(".attestors[0]", 1, ImmutableArray.Create<AttestorDefinition>(attestor))],
            mutateDigest: true,
            verifyDigest: true,
            required: true,
            repository: repository);
    }
}

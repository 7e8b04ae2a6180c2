using System.Security.Cryptography;
using System.Text;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Hostile;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Kubernetes;

/// <summary>
/// Keys kept in Secrets (<c>keys.secret</c>, <c>k8s://namespace/name</c>): read at verification time, then checked like a
/// static key. The registry is <see cref="HostileRegistry"/> in its honest mode; the Secrets come from
/// <see cref="FakeSecretKeys"/> (a fake, since there is no API server here) and, for the reader itself, from
/// <see cref="FakeKubernetesApi"/>.
/// </summary>
public sealed class SecretKeyTests : IDisposable
{
    private const string KeyPath = ".attestors[0].entries[0].keys";
    private readonly HostileRegistry _registry = new();
    private readonly ECDsa _signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly FakeKubernetesApi _api = new();

    private static readonly ImageVerificationDefinition Entry = new(
        "verifyImages[0]",
        _ => true,
        [new AttestorSetDefinition(".attestors[0]", 1, [new SecretKeyAttestorDefinition(KeyPath, "kyverno", "cosign-key", HashAlgorithmName.SHA256)])],
        mutateDigest: true,
        verifyDigest: true,
        required: true,
        repository: null);

    private static readonly RuleDefinition Rule = new("check-signature", _ => true, [Entry]);

    private static readonly PolicyDefinition Policy = new("secret-keys", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "secret-keys.yaml", [Rule]);

    private async Task<ImageVerificationResult> VerifyAsync(ISecretKeySource? secrets)
    {
        var digest = _registry.PushImage(HostileHarness.Repository, "v1");
        _registry.PushSignature(HostileHarness.Repository, digest, _signer);
        var client = new RegistryClient(new RegistryOptions(), _registry, NoRegistryCredentials.Instance, metrics: null, time: null);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System, secrets);
        return await verifier.VerifyAsync(Policy, Rule, Entry, ImageReference.Parse(HostileHarness.Image(":v1")), digest, CancellationToken.None);
    }

    [Fact]
    public async Task Key_from_the_secret_verifies_the_signature()
    {
        var result = await VerifyAsync(new FakeSecretKeys { ["kyverno/cosign-key"] = _signer.ExportSubjectPublicKeyInfoPem() });

        Assert.Equal(VerificationStatus.Pass, result.Status);
    }

    [Fact]
    public async Task Another_key_in_the_secret_fails()
    {
        var result = await VerifyAsync(new FakeSecretKeys { ["kyverno/cosign-key"] = _other.ExportSubjectPublicKeyInfoPem() });

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains($"{KeyPath}: ", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_secret_fails_with_its_name()
    {
        var result = await VerifyAsync(new FakeSecretKeys());

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains($"{KeyPath}: secret kyverno/cosign-key does not exist", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secret_without_a_public_key_pem_fails()
    {
        var result = await VerifyAsync(new FakeSecretKeys { ["kyverno/cosign-key"] = "not a key" });

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains("secret kyverno/cosign-key holds no usable public key", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_api_server_is_an_error_for_failure_policy_to_decide()
    {
        var result = await VerifyAsync(new FakeSecretKeys { Outage = true });

        Assert.Equal(VerificationStatus.Error, result.Status);
        Assert.Contains("the API server is unreachable", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_kubernetes_api_the_key_cannot_verify()
    {
        var result = await VerifyAsync(secrets: null);

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains("no Kubernetes API is configured", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reader_takes_cosign_pub_from_the_secret_data()
    {
        var pem = _signer.ExportSubjectPublicKeyInfoPem();
        _api.Namespaces["kyverno/secrets/cosign-key"] = $$$"""{"kind":"Secret","data":{"cosign.pub":"{{{Convert.ToBase64String(Encoding.UTF8.GetBytes(pem))}}}"}}""";
        var reader = new KubernetesSecretKeys(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider());

        Assert.Equal(pem, await reader.GetPublicKeyPemAsync("kyverno", "cosign-key", CancellationToken.None));
        Assert.Equal("/api/v1/namespaces/kyverno/secrets/cosign-key", Assert.Single(_api.Requests).Path);
    }

    [Theory]
    [InlineData(200, """{"kind":"Secret","data":{"cosign.key":"eA=="}}""", "secret kyverno/cosign-key has no cosign.pub", false)]
    [InlineData(200, """{"kind":"Secret","data":{"cosign.pub":"%%%"}}""", "secret kyverno/cosign-key: cosign.pub is not base64", false)]
    [InlineData(500, "{}", "the API server answered 500 to the read of secret kyverno/cosign-key", true)]
    public async Task Reader_errors_say_whether_asking_again_could_help(int status, string body, string message, bool transient)
    {
        _api.Status = (System.Net.HttpStatusCode)status;
        _api.Namespaces["kyverno/secrets/cosign-key"] = body;
        var reader = new KubernetesSecretKeys(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider());

        var error = await Assert.ThrowsAsync<SecretKeyException>(() => reader.GetPublicKeyPemAsync("kyverno", "cosign-key", CancellationToken.None).AsTask());

        Assert.Equal(message, error.Message);
        Assert.Equal(transient, error.IsTransient);
    }

    public void Dispose()
    {
        _signer.Dispose();
        _other.Dispose();
        _api.Dispose();
    }
}

/// <summary>A fake Secret store: PEMs by <c>namespace/name</c>, or an outage.</summary>
internal sealed class FakeSecretKeys : Dictionary<string, string>, ISecretKeySource
{
    public bool Outage { get; init; }

    public ValueTask<string> GetPublicKeyPemAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        if (Outage)
        {
            throw new SecretKeyException("the API server is unreachable (ConnectionError)", isTransient: true);
        }

        return TryGetValue(@namespace + "/" + name, out var pem)
            ? ValueTask.FromResult(pem)
            : throw new SecretKeyException($"secret {@namespace}/{name} does not exist", isTransient: false);
    }
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Cloud;
using PolicyCompiler.Runtime.Tests.Hostile;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Kubernetes;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// <c>rekor.pubkey</c> written with a variable on a key that is itself read at admission (a Secret, a KMS key, a
/// <c>publicKeys</c> variable), through the admission engine: the private Rekor's key comes from a ConfigMap, the signing
/// key from the Secret (read by <see cref="KubernetesSecretKeys"/>), the ConfigMap or the KMS. The signature is
/// containers/image's key + Rekor fixture (<c>cosign2.pub</c> signed it, only the real Rekor key <c>rekor.pub</c> verifies
/// its SET), served by <see cref="HostileRegistry"/> in its honest mode; the API server is <see cref="FakeKubernetesApi"/>
/// and AWS KMS is <see cref="FakeAwsKms"/> (fakes, since neither exists here).
/// </summary>
public sealed class SubstitutedLogKeyReadAtAdmissionTests : IDisposable
{
    private const string FixtureImage = "dir-img-cosign-key-rekor-valid";
    private const string KeyPath = ".attestors[0].entries[0].keys";
    private const string RekorTemplate = "{{ keys.data.rekor }}";
    private const string KmsReference = "awskms:///alias/release-signer";
    private const string SecretPath = "/api/v1/namespaces/kyverno/secrets/cosign-key";
    private static readonly AwsCredentials s_credentials = new("AKIDSTATIC", "static-secret-key");

    private static readonly JmesFunc s_rekorKey = static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field("rekor"), RekorTemplate);
    private static readonly JmesFunc s_signingKey = static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field("pub"), "{{ keys.data.pub }}");

    private readonly HostileRegistry _registry = new();
    private readonly FakeKubernetesApi _api = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly FakeAwsKms _kms;

    public SubstitutedLogKeyReadAtAdmissionTests() => _kms = new FakeAwsKms("eu-west-1", s_credentials, _time.GetUtcNow);

    public void Dispose()
    {
        _api.Dispose();
        _kms.Dispose();
    }

    /// <summary>
    /// What the generator writes for <c>keys: {…, rekor: {url: https://rekor.internal, pubkey: "{{ keys.data.rekor }}"}}</c>
    /// (see the context-keys baseline): the log substituted first, into the attestor that still reads its key.
    /// </summary>
    private static TemplatedAttestorDefinition Attestor(Func<SignatureRequirements, AttestorDefinition> keyAttestor) => new(
        KeyPath,
        [new AttestorTemplate("rekor.pubkey", RekorTemplate, s_rekorKey)],
        values => keyAttestor(new SignatureRequirements { Tlog = TransparencyLogPolicy.TrustedRootLogs }
            .With(tlog: TransparencyLogPolicy.WithKey("https://rekor.internal", PemPublicKeys.One(values[0], "rekor.pubkey")))));

    private static AttestorDefinition SecretKey(SignatureRequirements requirements) =>
        new SecretKeyAttestorDefinition(KeyPath, "kyverno", "cosign-key", HashAlgorithmName.SHA256, requirements);

    private static AttestorDefinition VariableKey(SignatureRequirements requirements) =>
        new VariableKeyAttestorDefinition(KeyPath, s_signingKey, "{{ keys.data.pub }}", HashAlgorithmName.SHA256, requirements);

    private static AttestorDefinition KmsKey(SignatureRequirements requirements) =>
        new KmsKeyAttestorDefinition(KeyPath, KmsReference, HashAlgorithmName.SHA256, requirements);

    private static PolicyDefinition Policy(TemplatedAttestorDefinition attestor)
    {
        var entry = new ImageVerificationDefinition("verifyImages[0]", _ => true, [new AttestorSetDefinition(".attestors[0]", null, [attestor])], mutateDigest: true, verifyDigest: true, required: true, repository: null);
        var rule = new RuleDefinition("check-signature", _ => true, [entry], context: [new ConfigMapContextEntry("keys", static (_, _) => JmesValue.From("keys"), static (_, _) => JmesValue.From("default"))]);
        return new PolicyDefinition("log-keys", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "log-keys.yaml", [rule]);
    }

    private static string Pem(string file) => File.ReadAllText(Path.Combine(CosignFixtures.Root, file));

    /// <summary>The ConfigMap <c>default/keys</c>: the Rekor key, and a signing key for <c>publicKeys</c> variables.</summary>
    private void ServeConfigMap(string rekor, string? pub = null)
    {
        var data = new Dictionary<string, string> { ["rekor"] = rekor };
        if (pub is not null)
        {
            data["pub"] = pub;
        }

        _api.Namespaces["default/configmaps/keys"] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "ConfigMap",
            ["metadata"] = new Dictionary<string, string> { ["name"] = "keys", ["namespace"] = "default" },
            ["data"] = data,
        });
    }

    private void ServeSecret(string pem) =>
        _api.Namespaces["kyverno/secrets/cosign-key"] = $$$"""{"kind":"Secret","data":{"cosign.pub":"{{{Convert.ToBase64String(Encoding.UTF8.GetBytes(pem))}}}"}}""";

    private void ServeKmsKey(string pem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);
        _kms.Keys["alias/release-signer"] = (key.ExportSubjectPublicKeyInfo(), "ECC_NIST_P256", "ECDSA_SHA_256", "SIGN_VERIFY");
    }

    /// <summary>The fixture's manifest and its signature (payload and annotations, Rekor bundle included) at <c>:v1</c>.</summary>
    private string FixtureImageReference()
    {
        var manifest = File.ReadAllBytes(Path.Combine(CosignFixtures.Root, FixtureImage, "manifest.json"));
        var digest = _registry.PushManifest(HostileHarness.Repository, "v1", manifest, "application/vnd.docker.distribution.manifest.v2+json");
        var signature = Assert.Single(CosignFixtures.Signatures(FixtureImage));
        _registry.PushSignatureLayers(HostileHarness.Repository, digest, [(signature.Payload, signature.Annotations)]);
        return HostileHarness.Image(":v1");
    }

    private async Task<AdmissionResponse> MutateAsync(TemplatedAttestorDefinition attestor)
    {
        var image = FixtureImageReference();
        var api = new KubernetesApi(_api.Address, null, null);
        var client = new RegistryClient(new RegistryOptions(), _registry, NoRegistryCredentials.Instance, metrics: null, time: null);
        using var kms = new KmsKeys(
            new CloudOptions
            {
                AwsRegion = "eu-west-1",
                AwsKmsEndpoint = _kms.Address,
                Environment = name => name switch { "AWS_ACCESS_KEY_ID" => s_credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY" => s_credentials.SecretAccessKey, _ => null },
            },
            _time);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System, new KubernetesSecretKeys(api, TimeSpan.FromSeconds(30), new FakeTimeProvider()), kms);
        var engine = new AdmissionEngine([Policy(attestor)], verifier, new AdmissionEngineServices { ContextData = new KubernetesContextData(api, TimeSpan.FromSeconds(30), new FakeTimeProvider()) });
        return await engine.MutateAsync(HostileHarness.PodRequest(image), CancellationToken.None);
    }

    private IEnumerable<string> ApiPaths => _api.Requests.Select(r => r.Path);

    [Fact]
    public async Task A_secret_key_verifies_with_the_rekor_key_from_the_configmap()
    {
        ServeConfigMap(rekor: Pem("rekor.pub"));
        ServeSecret(Pem("cosign2.pub"));

        var response = await MutateAsync(Attestor(SecretKey));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Single(HostileHarness.PatchedImages(response));
        Assert.Equal(["/api/v1/namespaces/default/configmaps/keys", SecretPath], ApiPaths);
    }

    [Fact]
    public async Task A_secret_key_with_another_rekor_key_is_denied_rather_than_checked_against_the_trusted_root()
    {
        // cosign.pub is a valid P-256 key, just not the log's; the public-good Rekor of the trusted root, which did sign
        // this bundle, must not be consulted once the policy names its own log's key.
        ServeConfigMap(rekor: Pem("cosign.pub"));
        ServeSecret(Pem("cosign2.pub"));

        var message = HostileHarness.Denied(await MutateAsync(Attestor(SecretKey)));

        Assert.Contains($"{KeyPath}: ", message, StringComparison.Ordinal);
        Assert.Contains("transparency log", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_signing_key_is_still_the_secrets_once_the_log_is_substituted()
    {
        ServeConfigMap(rekor: Pem("rekor.pub"));
        ServeSecret(Pem("cosign.pub"));

        var message = HostileHarness.Denied(await MutateAsync(Attestor(SecretKey)));

        Assert.Contains($"{KeyPath}: ", message, StringComparison.Ordinal);
        Assert.DoesNotContain("transparency log", message, StringComparison.Ordinal);
        Assert.Contains(SecretPath, ApiPaths);
    }

    [Fact]
    public async Task A_rekor_key_that_is_not_a_key_fails_the_attestor_before_the_secret_is_read()
    {
        ServeConfigMap(rekor: "not a key");
        ServeSecret(Pem("cosign2.pub"));

        var message = HostileHarness.Denied(await MutateAsync(Attestor(SecretKey)));

        Assert.Contains($"{KeyPath}: rekor.pubkey {RekorTemplate} gave no usable attestor (rekor.pubkey holds no PEM public key)", message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretPath, ApiPaths);
    }

    [Fact]
    public async Task A_public_keys_variable_verifies_with_both_keys_from_the_configmap()
    {
        ServeConfigMap(rekor: Pem("rekor.pub"), pub: Pem("cosign2.pub"));

        var response = await MutateAsync(Attestor(VariableKey));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Single(HostileHarness.PatchedImages(response));
    }

    [Fact]
    public async Task A_public_keys_variable_with_another_rekor_key_is_denied()
    {
        ServeConfigMap(rekor: Pem("cosign.pub"), pub: Pem("cosign2.pub"));

        var message = HostileHarness.Denied(await MutateAsync(Attestor(VariableKey)));

        Assert.Contains("transparency log", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_kms_key_verifies_with_the_rekor_key_from_the_configmap_and_not_with_another()
    {
        ServeKmsKey(Pem("cosign2.pub"));
        ServeConfigMap(rekor: Pem("rekor.pub"));
        var passed = await MutateAsync(Attestor(KmsKey));
        Assert.True(passed.Allowed, passed.Status?.Message);
        Assert.NotEmpty(_kms.Requests);

        ServeConfigMap(rekor: Pem("cosign.pub"));
        var message = HostileHarness.Denied(await MutateAsync(Attestor(KmsKey)));
        Assert.Contains("transparency log", message, StringComparison.Ordinal);
    }
}

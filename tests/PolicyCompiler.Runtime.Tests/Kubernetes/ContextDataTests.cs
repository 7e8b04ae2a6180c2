using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Hostile;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Kubernetes;

/// <summary>
/// Rule <c>context</c> entries read through the Kubernetes API (<see cref="KubernetesContextData"/> against
/// <see cref="FakeKubernetesApi"/>, a real HTTP server on loopback), and keys taken from them
/// (<c>publicKeys: "{{ keys.data.pub }}"</c>) checked at admission. The registry is <see cref="HostileRegistry"/> in its
/// honest mode.
/// </summary>
public sealed class ContextDataTests : IDisposable
{
    private const string KeyPath = ".attestors[0].entries[0].keys";
    private readonly HostileRegistry _registry = new();
    private readonly ECDsa _signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly FakeKubernetesApi _api = new();

    private static JmesValue Text(string value) => JmesValue.From(value);

    /// <summary>The rule of Kyverno's verify-image-with-multi-keys policy, written by hand: a ConfigMap and a key read from it.</summary>
    private static PolicyDefinition Policy(FailurePolicy failurePolicy = FailurePolicy.Fail, string? policyNamespace = null, string configMapNamespace = "default")
    {
        var entry = new ImageVerificationDefinition(
            "verifyImages[0]",
            _ => true,
            [new AttestorSetDefinition(".attestors[0]", null, [new VariableKeyAttestorDefinition(KeyPath, static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field("pub"), "{{ keys.data.pub }}"), "{{ keys.data.pub }}", HashAlgorithmName.SHA256)])],
            mutateDigest: true,
            verifyDigest: true,
            required: true,
            repository: null);
        var rule = new RuleDefinition(
            "check-signature",
            _ => true,
            [entry],
            context: [new ConfigMapContextEntry("keys", static (_, _) => Text("keys"), (_, _) => Text(configMapNamespace))]);
        return new PolicyDefinition("context-keys", policyNamespace, FailureAction.Enforce, failurePolicy, 10, "context-keys.yaml", [rule]);
    }

    private AdmissionEngine Engine(PolicyDefinition policy, bool withApi = true)
    {
        var client = new RegistryClient(new RegistryOptions(), _registry, NoRegistryCredentials.Instance, metrics: null, time: null);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions(), TimeProvider.System), TimeProvider.System);
        var data = withApi ? new KubernetesContextData(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider()) : null;
        return new AdmissionEngine([policy], verifier, new AdmissionEngineServices { ContextData = data });
    }

    private void ServeKey(string pub, string ns = "default") =>
        _api.Namespaces[$"{ns}/configmaps/keys"] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "ConfigMap",
            ["metadata"] = new Dictionary<string, string> { ["name"] = "keys", ["namespace"] = ns },
            ["data"] = new Dictionary<string, string> { ["pub"] = pub },
        });

    private string SignedImage()
    {
        var digest = _registry.PushImage(HostileHarness.Repository, "v1");
        _registry.PushSignature(HostileHarness.Repository, digest, _signer);
        return HostileHarness.Image(":v1");
    }

    private static Task<AdmissionResponse> Mutate(AdmissionEngine engine, string image) =>
        engine.MutateAsync(HostileHarness.PodRequest(image), CancellationToken.None);

    [Fact]
    public async Task Key_from_a_configmap_verifies_the_image_it_signed()
    {
        ServeKey(_signer.ExportSubjectPublicKeyInfoPem());

        var response = await Mutate(Engine(Policy()), SignedImage());

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Single(HostileHarness.PatchedImages(response));
        Assert.Equal("/api/v1/namespaces/default/configmaps/keys", Assert.Single(_api.Requests).Path);
    }

    [Fact]
    public async Task Key_of_another_signer_in_the_configmap_denies()
    {
        ServeKey(_other.ExportSubjectPublicKeyInfoPem());

        var message = HostileHarness.Denied(await Mutate(Engine(Policy()), SignedImage()));

        Assert.Contains($"{KeyPath}: ", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Configmap_value_that_is_not_a_key_fails_the_attestor_with_a_clear_message()
    {
        ServeKey("not a key");

        var message = HostileHarness.Denied(await Mutate(Engine(Policy()), SignedImage()));

        Assert.Contains($"{KeyPath}: publicKeys {{{{ keys.data.pub }}}} gave no PEM public key (it starts with \"not a key\")", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pem_that_does_not_parse_fails_the_attestor_instead_of_crashing()
    {
        ServeKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");

        var message = HostileHarness.Denied(await Mutate(Engine(Policy(failurePolicy: FailurePolicy.Ignore)), SignedImage()));

        Assert.Contains($"{KeyPath}: publicKeys {{{{ keys.data.pub }}}} gave no usable public key", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Configmap_without_the_key_fails_the_attestor()
    {
        _api.Namespaces["default/configmaps/keys"] = """{"kind":"ConfigMap","data":{"other":"x"}}""";

        var message = HostileHarness.Denied(await Mutate(Engine(Policy()), SignedImage()));

        Assert.Contains($"{KeyPath}: publicKeys {{{{ keys.data.pub }}}}: variable substitution failed: variable {{{{ keys.data.pub }}}} could not be resolved", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A policy whose attestor is substituted per review, as the generator writes <c>certificates.cert: "{{ … }}"</c>:
    /// a bare certificate is checked as its public key, so a self-signed certificate over the signer's key verifies.
    /// </summary>
    private static PolicyDefinition CertificatePolicy(JmesFunc template, string text, bool readsRequest = false)
    {
        var attestor = new TemplatedAttestorDefinition(
            ".attestors[0].entries[0].certificates",
            [new AttestorTemplate("cert", text, template)],
            values => new SignatureAttestorDefinition(".attestors[0].entries[0].certificates", new PolicyCompiler.Runtime.Sigstore.CertificateSigner(PemCertificates.One(values[0]), [], HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null), PolicyCompiler.Runtime.Sigstore.SignatureRequirements.None),
            readsRequest);
        var entry = new ImageVerificationDefinition("verifyImages[0]", _ => true, [new AttestorSetDefinition(".attestors[0]", null, [attestor])], mutateDigest: true, verifyDigest: true, required: true, repository: null);
        var rule = new RuleDefinition("check-signature", _ => true, [entry], context: [new ConfigMapContextEntry("keys", static (_, _) => Text("keys"), static (_, _) => Text("default"))]);
        return new PolicyDefinition("context-certificates", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "context-certificates.yaml", [rule]);
    }

    private static string SelfSigned(ECDsa key)
    {
        using var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=signer", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return certificate.ExportCertificatePem();
    }

    private static readonly JmesFunc s_certFromConfigMap = static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field("pub"), "{{ keys.data.pub }}");

    [Fact]
    public async Task Certificate_from_a_configmap_verifies_the_image_its_key_signed()
    {
        ServeKey(SelfSigned(_signer));

        var response = await Mutate(Engine(CertificatePolicy(s_certFromConfigMap, "{{ keys.data.pub }}")), SignedImage());

        Assert.True(response.Allowed, response.Status?.Message);
    }

    [Fact]
    public async Task Configmap_value_that_is_not_a_certificate_fails_the_attestor_with_a_clear_message()
    {
        ServeKey("not a certificate");

        var message = HostileHarness.Denied(await Mutate(Engine(CertificatePolicy(s_certFromConfigMap, "{{ keys.data.pub }}")), SignedImage()));

        Assert.Contains(".attestors[0].entries[0].certificates: cert {{ keys.data.pub }} gave no usable attestor (no PEM certificate found)", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attestor_substituted_from_the_request_gives_a_verdict_for_that_request_only()
    {
        // The same context (fingerprint) and image, two namespaces: the cache key does not hold the request, so a verdict
        // reached with default's certificate must not answer for team-b, whose entry names another key.
        _api.Namespaces["default/configmaps/keys"] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "ConfigMap",
            ["data"] = new Dictionary<string, string> { ["default"] = SelfSigned(_signer), ["team-b"] = SelfSigned(_other) },
        });
        JmesFunc perNamespace = static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field(root.Field("request").Field("namespace").GetString()!), "{{ keys.data.{{request.namespace}} }}");
        var policy = CertificatePolicy(perNamespace, "{{ keys.data.{{request.namespace}} }}", readsRequest: true);
        Assert.False(policy.Rules[0].VerifyImages[0].VerdictIsReusable);
        var engine = Engine(policy);
        var image = SignedImage();

        Assert.True((await Mutate(engine, image)).Allowed);
        var teamB = HostileHarness.PodRequest(image);
        teamB.Namespace = "team-b";
        HostileHarness.Denied(await engine.MutateAsync(teamB, CancellationToken.None));
    }

    [Fact]
    public async Task Missing_configmap_denies_even_when_failure_policy_is_ignore()
    {
        // Kyverno fails the rule when a context entry cannot be loaded; failurePolicy is for the API server that cannot answer.
        var message = HostileHarness.Denied(await Mutate(Engine(Policy(FailurePolicy.Ignore)), SignedImage()));

        Assert.Contains("check-signature: 'failed to load context: failed to retrieve config map for context entry keys: failed to get configmap default/keys: configmap default/keys does not exist'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_server_error_is_an_error_that_failure_policy_decides()
    {
        ServeKey(_signer.ExportSubjectPublicKeyInfoPem());
        _api.Status = HttpStatusCode.InternalServerError;
        var image = SignedImage();

        var failed = await Mutate(Engine(Policy(FailurePolicy.Fail)), image);
        var ignored = await Mutate(Engine(Policy(FailurePolicy.Ignore)), image);

        Assert.Contains("failed to load context: failed to retrieve config map for context entry keys: failed to get configmap default/keys: the API server answered 500 to the read of configmap default/keys", HostileHarness.Denied(failed), StringComparison.Ordinal);
        Assert.True(ignored.Allowed);
        Assert.Contains(ignored.Warnings!, w => w.Contains("failed to load context", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_kubernetes_api_the_rule_fails()
    {
        var message = HostileHarness.Denied(await Mutate(Engine(Policy(), withApi: false), SignedImage()));

        Assert.Contains("failed to load context: failed to retrieve config map for context entry keys: no Kubernetes API is configured", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Configmap_is_read_once_for_reviews_within_its_time_to_live()
    {
        ServeKey(_signer.ExportSubjectPublicKeyInfoPem());
        var engine = Engine(Policy());
        var image = SignedImage();

        Assert.True((await Mutate(engine, image)).Allowed);
        Assert.True((await Mutate(engine, image)).Allowed);

        Assert.Single(_api.Requests);
    }

    [Fact]
    public async Task Rotating_the_key_in_the_configmap_is_not_hidden_by_the_verdict_cache()
    {
        // The verdict cache keys verdicts by the context's values: a verdict reached with the old key is not reused.
        ServeKey(_signer.ExportSubjectPublicKeyInfoPem());
        var policy = Policy();
        var client = new RegistryClient(new RegistryOptions(), _registry, NoRegistryCredentials.Instance, metrics: null, time: null);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions(), TimeProvider.System), TimeProvider.System);
        var time = new FakeTimeProvider();
        var engine = new AdmissionEngine([policy], verifier, new AdmissionEngineServices { ContextData = new KubernetesContextData(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), time) });
        var image = SignedImage();

        Assert.True((await Mutate(engine, image)).Allowed);
        ServeKey(_other.ExportSubjectPublicKeyInfoPem());
        time.Advance(TimeSpan.FromSeconds(31));

        HostileHarness.Denied(await Mutate(engine, image));
    }

    [Fact]
    public async Task Namespaced_policy_cannot_read_a_configmap_of_another_namespace()
    {
        ServeKey(_signer.ExportSubjectPublicKeyInfoPem());

        var message = HostileHarness.Denied(await Mutate(Engine(Policy(policyNamespace: "default", configMapNamespace: "kyverno")), SignedImage()));

        Assert.Contains("configMap namespace \"kyverno\" is different from policy namespace \"default\"", message, StringComparison.Ordinal);
        Assert.Empty(_api.Requests);
    }

    private static JmesObject Admission() => new JmesObject(1).Set("request", JmesValue.ParseJson("""{"namespace":"team-a"}"""));

    private Task<JmesObject> Load(params ContextEntryDefinition[] entries) =>
        ContextLoader.LoadAsync([.. entries], Admission(), null, new KubernetesContextData(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider()), new JmesContext(), CancellationToken.None);

    [Fact]
    public async Task Api_call_jmespath_variables_read_the_context_and_fall_back_to_the_default_when_unresolved()
    {
        _api.Paths["/apis/apps/v1/deployments"] = """{"items":[{"metadata":{"namespace":"team-a"},"spec":{"replicas":2}},{"metadata":{"namespace":"team-b"},"spec":{"replicas":5}}]}""";

        // items[?metadata.namespace == '{{ request.namespace }}'].spec.replicas, compiled by hand.
        static JmesValue InNamespace(JmesValue input, JmesValue root, JmesContext c, string variable)
        {
            var ns = KyvernoVariables.ToText(KyvernoVariables.Require(root.Field("request").Field(variable), "{{ request." + variable + " }}"));
            return Jmes.Filter(input.Field("items"), (v, _) => Jmes.Equal(v.Field("metadata").Field("namespace"), JmesValue.From(ns)), static (v, _) => v.Field("spec").Field("replicas"), c);
        }

        var values = await Load(
            new ApiCallContextEntry("replicas", static (_, _) => Text("/apis/apps/v1/deployments"), "GET", jmesPathWithVariables: static (input, root, c) => InNamespace(input, root, c, "namespace")),
            new ApiCallContextEntry("fallback", static (_, _) => Text("/apis/apps/v1/deployments"), "GET", @default: static (_, _) => JmesValue.From(0d), jmesPathWithVariables: static (input, root, c) => InNamespace(input, root, c, "missing")));
        var error = await Assert.ThrowsAsync<ContextDataException>(() => Load(
            new ApiCallContextEntry("strict", static (_, _) => Text("/apis/apps/v1/deployments"), "GET", jmesPathWithVariables: static (input, root, c) => InNamespace(input, root, c, "missing"))));

        Assert.Equal("[2]", values["replicas"].ToJsonString());
        Assert.Equal("0", values["fallback"].ToJsonString());
        Assert.StartsWith("failed to substitute variables in context entry strict jmesPath: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_call_reads_any_path_and_applies_its_jmespath()
    {
        _api.Paths["/apis/apps/v1/namespaces/team-a/deployments"] = """{"items":[{"spec":{"replicas":2}},{"spec":{"replicas":3}}]}""";

        var values = await Load(new ApiCallContextEntry(
            "replicas",
            static (root, _) => Text("/apis/apps/v1/namespaces/" + root.Field("request").Field("namespace").GetString() + "/deployments"),
            "GET",
            jmesPath: static (input, c) => Jmes.Project(input.Field("items"), static (v, _) => v.Field("spec").Field("replicas"), c)));

        Assert.Equal("[2,3]", values["replicas"].ToJsonString());
        Assert.Equal(("GET", "/apis/apps/v1/namespaces/team-a/deployments"), (_api.Calls.Single().Method, _api.Calls.Single().Path));
    }

    [Fact]
    public async Task Api_call_post_sends_its_data_as_a_json_body()
    {
        _api.Paths["/apis/authorization.k8s.io/v1/subjectaccessreviews"] = """{"status":{"allowed":true}}""";

        var values = await Load(new ApiCallContextEntry(
            "review",
            static (_, _) => Text("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            "POST",
            data: [new ApiCallData("kind", static (_, _) => Text("SubjectAccessReview")), new ApiCallData("namespace", static (root, _) => root.Field("request").Field("namespace"))]));

        Assert.True(values["review"].Field("status").Field("allowed").IsTruthy);
        var call = _api.Calls.Single();
        Assert.Equal("POST", call.Method);
        Assert.Equal("""{"kind":"SubjectAccessReview","namespace":"team-a"}""", call.Body);
    }

    [Fact]
    public async Task Api_call_default_stands_in_when_the_call_fails()
    {
        var values = await Load(new ApiCallContextEntry("things", static (_, _) => Text("/apis/example.io/v1/things"), "GET", @default: static (_, _) => JmesValue.ParseJson("[]")));

        Assert.Equal("[]", values["things"].ToJsonString());
    }

    [Fact]
    public async Task Api_call_failure_without_default_says_which_call_failed()
    {
        var error = await Assert.ThrowsAsync<ContextDataException>(() => Load(new ApiCallContextEntry("things", static (_, _) => Text("/apis/example.io/v1/things"), "GET")));

        Assert.Equal("failed to fetch data for APICall: failed to GET resource with raw url: /apis/example.io/v1/things: /apis/example.io/v1/things does not exist", error.Message);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task Api_call_outside_the_api_paths_is_refused()
    {
        var error = await Assert.ThrowsAsync<ContextDataException>(() => Load(new ApiCallContextEntry("x", static (_, _) => Text("https://elsewhere.example/"), "GET")));

        Assert.Contains("the path must start with /api/ or /apis/", error.Message, StringComparison.Ordinal);
        Assert.Empty(_api.Calls);
    }

    [Fact]
    public async Task Later_entries_read_earlier_ones()
    {
        var values = await Load(
            new VariableContextEntry("ns", null, jmesPath: static (root, _) => root.Field("request").Field("namespace")),
            new VariableContextEntry("greeting", static (root, _) => Text("hello " + root.Field("ns").GetString())));

        Assert.Equal("hello team-a", values["greeting"].GetString());
    }

    public void Dispose()
    {
        _signer.Dispose();
        _other.Dispose();
        _api.Dispose();
    }
}

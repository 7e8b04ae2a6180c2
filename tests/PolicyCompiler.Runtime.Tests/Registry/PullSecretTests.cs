using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Kubernetes;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// A Pod's <c>imagePullSecrets</c> as the credentials of its review: found in the Pod or its template, read from
/// Secrets, used before the host's own, and never lent to a review without them (tokens and verdicts are kept apart).
/// </summary>
public sealed class PullSecretTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();

    private static string DockerConfig(string user, string password) =>
        "{\"auths\":{\"" + Host + "\":{\"auth\":\"" + Basic(user, password) + "\"}}}";

    private static RegistryCredentialScope.Scope ScopeWith(string user, string password) =>
        new("team-a/pull", Runtime.Registry.DockerConfig.Parse(Encoding.UTF8.GetBytes(DockerConfig(user, password))));

    [Fact]
    public async Task Review_credentials_answer_the_registry_challenge()
    {
        var fake = RegistryAuthenticationTests.BasicRegistry();
        using var client = Client(fake);

        var manifest = await InScope(ScopeWith(RegistryAuthenticationTests.User, RegistryAuthenticationTests.Password), () => GetManifest(client));

        Assert.Equal(ManifestDigest, manifest.Digest);
        await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));
    }

    [Fact]
    public async Task Token_obtained_with_a_pull_secret_is_not_lent_to_a_review_without_it()
    {
        var fake = RegistryAuthenticationTests.TokenRegistry(expiresIn: 300);
        using var client = Client(fake);

        await InScope(ScopeWith(RegistryAuthenticationTests.User, RegistryAuthenticationTests.Password), () => GetManifest(client));
        await GetManifest(client);

        var tokenRequests = fake.To(RegistryAuthenticationTests.Realm);
        Assert.Equal(2, tokenRequests.Count);
        Assert.Equal("Basic", tokenRequests[0].Authorization?.Scheme);
        Assert.Null(tokenRequests[1].Authorization);
    }

    [Fact]
    public async Task Scope_ends_with_the_async_call_that_entered_it()
    {
        await InScope(ScopeWith("u", "p"), () => Task.FromResult(RegistryCredentialScope.Current));

        Assert.Null(RegistryCredentialScope.Current);
    }

    [Theory]
    [InlineData("Pod", """{"spec":{"imagePullSecrets":[{"name":"regcred"},{"name":"other"},{"name":"regcred"}],"containers":[]}}""", "regcred,other")]
    [InlineData("Deployment", """{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"regcred"}],"containers":[]}}}}""", "regcred")]
    [InlineData("CronJob", """{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"cron"}]}}}}}}""", "cron")]
    [InlineData("Pod", """{"spec":{"containers":[]}}""", "")]
    [InlineData("Pod", """{"spec":{"imagePullSecrets":[{"name":""},{"other":1},"x"]}}""", "")]
    public void Pull_secret_names_come_from_the_pod_or_its_template(string kind, string json, string expected)
    {
        var context = new AdmissionContext(new AdmissionRequest
        {
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = kind },
            Namespace = "team-a",
            Operation = "CREATE",
            Object = JsonDocument.Parse(json).RootElement,
        });

        Assert.Equal(expected, string.Join(',', PullSecretNames.Of(context)));
    }

    [Fact]
    public async Task Reader_takes_dockerconfigjson_and_the_legacy_dockercfg()
    {
        var modern = Convert.ToBase64String(Encoding.UTF8.GetBytes(DockerConfig("alice", "pw1")));
        var legacy = Convert.ToBase64String(Encoding.UTF8.GetBytes($$$"""{"{{{Host}}}":{"auth":"{{{Basic("bob", "pw2")}}}"}}"""));
        _api.Namespaces["team-a/secrets/modern"] = $$$"""{"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"{{{modern}}}"}}""";
        _api.Namespaces["team-a/secrets/legacy"] = $$$"""{"type":"kubernetes.io/dockercfg","data":{".dockercfg":"{{{legacy}}}"}}""";
        var reader = new KubernetesPullSecrets(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider());

        var alice = Assert.Single(await reader.GetAsync("team-a", "modern", CancellationToken.None));
        var bob = Assert.Single(await reader.GetAsync("team-a", "legacy", CancellationToken.None));

        Assert.Equal("alice", alice.Credential.UserName);
        Assert.Equal("bob", bob.Credential.UserName);
    }

    [Fact]
    public async Task Secret_of_another_type_is_a_clear_error_without_content()
    {
        _api.Namespaces["team-a/secrets/opaque"] = """{"type":"Opaque","data":{"password":"c2VjcmV0"}}""";
        var reader = new KubernetesPullSecrets(new KubernetesApi(_api.Address, null, null), TimeSpan.FromSeconds(30), new FakeTimeProvider());

        var error = await Assert.ThrowsAsync<SecretKeyException>(() => reader.GetAsync("team-a", "opaque", CancellationToken.None).AsTask());

        Assert.Equal("secret team-a/opaque has neither .dockerconfigjson nor .dockercfg", error.Message);
        Assert.False(error.IsTransient);
    }

    /// <summary>Runs <paramref name="action"/> in its own async method with <paramref name="scope"/>, as a review does.</summary>
    private static async Task<T> InScope<T>(RegistryCredentialScope.Scope scope, Func<Task<T>> action)
    {
        RegistryCredentialScope.Enter(scope);
        return await action();
    }

    public void Dispose() => _api.Dispose();
}

/// <summary>The engine reads the Pod's pull secrets and its verification reaches a registry that requires them.</summary>
public sealed class PullSecretAdmissionTests
{
    [Fact]
    public async Task Pod_pull_secret_opens_a_private_registry_to_verification()
    {
        using var harness = new Hostile.HostileHarness();
        var digest = harness.Registry.PushImage(Hostile.HostileHarness.Repository, "v1");
        harness.Registry.PushSignature(Hostile.HostileHarness.Repository, digest, harness.Signer);
        var expected = Basic("puller", "pw");
        harness.Registry.Lie(r => r.Authorization is { Scheme: "Basic" } a && a.Parameter == expected
            ? null
            : new System.Net.Http.HttpResponseMessage(System.Net.HttpStatusCode.Unauthorized) { Headers = { WwwAuthenticate = { new("Basic", "realm=\"private\"") } } });
        var secrets = new FakePullSecrets { ["hostile-ns/regcred"] = "{\"auths\":{\"" + Hostile.HostileRegistry.Host + "\":{\"auth\":\"" + expected + "\"}}}" };
        var engine = new AdmissionEngine([harness.Policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets });

        var withSecret = await engine.MutateAsync(Request(Hostile.HostileHarness.Image(":v1"), "regcred"), CancellationToken.None);
        var without = await engine.MutateAsync(Request(Hostile.HostileHarness.Image(":v1"), pullSecret: null), CancellationToken.None);

        Assert.True(withSecret.Allowed, withSecret.Status?.Message);
        Assert.False(without.Allowed);
    }

    private static AdmissionRequest Request(string image, string? pullSecret)
    {
        var secrets = pullSecret is null ? string.Empty : $",\"imagePullSecrets\":[{{\"name\":\"{pullSecret}\"}}]";
        return new AdmissionRequest
        {
            Uid = Guid.NewGuid().ToString(),
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
            Namespace = "hostile-ns",
            Name = "app",
            Operation = "CREATE",
            Object = JsonDocument.Parse($"{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"app\"}},\"spec\":{{\"containers\":[{{\"name\":\"app\",\"image\":\"{image}\"}}]{secrets}}}}}").RootElement,
        };
    }
}

/// <summary>A fake Secret store of Docker configs by <c>namespace/name</c>.</summary>
internal sealed class FakePullSecrets : Dictionary<string, string>, IPullSecretSource
{
    public ValueTask<IReadOnlyList<DockerConfigEntry>> GetAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        TryGetValue(@namespace + "/" + name, out var json)
            ? ValueTask.FromResult(Runtime.Registry.DockerConfig.Parse(Encoding.UTF8.GetBytes(json)))
            : throw new SecretKeyException($"secret {@namespace}/{name} does not exist", isTransient: false);
}

/// <summary><c>imageRegistryCredentials</c> of an entry: its own Secrets (in the webhook's namespace) and plain HTTP.</summary>
public sealed class EntryRegistryCredentialsTests
{
    private static readonly string Expected = Basic("entry-robot", "pw");

    private static (Hostile.HostileHarness Harness, PolicyDefinition Policy) Setup(RegistryCredentialsDefinition credentials)
    {
        var harness = new Hostile.HostileHarness();
        var digest = harness.Registry.PushImage(Hostile.HostileHarness.Repository, "v1");
        harness.Registry.PushSignature(Hostile.HostileHarness.Repository, digest, harness.Signer);
        var original = harness.Policy.Rules[0].VerifyImages[0];
        var entry = new ImageVerificationDefinition(original.Path, original.ImageReferences, original.Attestors, original.MutateDigest, original.VerifyDigest, original.Required, original.Repository, registryCredentials: credentials);
        var policy = new PolicyDefinition("entry-credentials", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "p.yaml", [new RuleDefinition("check-signature", _ => true, [entry])]);
        return (harness, policy);
    }

    [Fact]
    public async Task Entry_secret_from_the_webhook_namespace_opens_the_registry()
    {
        var (harness, policy) = Setup(new RegistryCredentialsDefinition(false, ["entry-regcred"]));
        using var _ = harness;
        harness.Registry.Lie(r => r.Authorization is { Scheme: "Basic" } a && a.Parameter == Expected
            ? null
            : new System.Net.Http.HttpResponseMessage(System.Net.HttpStatusCode.Unauthorized) { Headers = { WwwAuthenticate = { new("Basic", "realm=\"private\"") } } });
        var secrets = new FakePullSecrets { ["policy-compiler/entry-regcred"] = "{\"auths\":{\"" + Hostile.HostileRegistry.Host + "\":{\"auth\":\"" + Expected + "\"}}}" };
        var withSecret = new AdmissionEngine([policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets, WebhookNamespace = "policy-compiler" });
        var otherNamespace = new AdmissionEngine([policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets, WebhookNamespace = "elsewhere" });

        var admitted = await withSecret.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);
        var denied = await otherNamespace.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);

        Assert.True(admitted.Allowed, admitted.Status?.Message);
        Assert.False(denied.Allowed);
    }

    [Fact]
    public async Task Allow_insecure_registry_reaches_the_registry_over_plain_http_for_that_entry_only()
    {
        var (harness, policy) = Setup(new RegistryCredentialsDefinition(true, []));
        using var _ = harness;

        var response = await new AdmissionEngine([policy], harness.Verifier).MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);
        var insecure = harness.Registry.Requests.Select(r => r.Uri.Scheme).Distinct().ToList();
        harness.Registry.Requests.Clear();
        await harness.Engine.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v2")), CancellationToken.None);
        var secure = harness.Registry.Requests.Select(r => r.Uri.Scheme).Distinct().ToList();

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal(["http"], insecure);
        Assert.Equal(["https"], secure);
    }
}

/// <summary>The host's own pull secrets (<c>Registry:PullSecrets</c>, Kyverno's <c>--imagePullSecrets</c>): read in the webhook's namespace for every review.</summary>
public sealed class HostPullSecretTests
{
    [Fact]
    public async Task Host_pull_secret_opens_the_registry_for_every_review_after_the_pods_own()
    {
        using var harness = new Hostile.HostileHarness();
        var digest = harness.Registry.PushImage(Hostile.HostileHarness.Repository, "v1");
        harness.Registry.PushSignature(Hostile.HostileHarness.Repository, digest, harness.Signer);
        var expected = Basic("host-robot", "pw");
        harness.Registry.Lie(r => r.Authorization is { Scheme: "Basic" } a && a.Parameter == expected
            ? null
            : new System.Net.Http.HttpResponseMessage(System.Net.HttpStatusCode.Unauthorized) { Headers = { WwwAuthenticate = { new("Basic", "realm=\"private\"") } } });
        var secrets = new FakePullSecrets { ["policy-compiler/host-regcred"] = "{\"auths\":{\"" + Hostile.HostileRegistry.Host + "\":{\"auth\":\"" + expected + "\"}}}" };
        var withHostSecret = new AdmissionEngine([harness.Policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets, WebhookNamespace = "policy-compiler", HostPullSecrets = ["host-regcred"] });
        var withoutHostSecret = new AdmissionEngine([harness.Policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets, WebhookNamespace = "policy-compiler" });
        var secretInAnotherNamespace = new AdmissionEngine([harness.Policy], harness.Verifier, new AdmissionEngineServices { PullSecrets = secrets, WebhookNamespace = "elsewhere", HostPullSecrets = ["host-regcred"] });

        var admitted = await withHostSecret.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);
        var denied = await withoutHostSecret.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);
        var deniedElsewhere = await secretInAnotherNamespace.MutateAsync(Hostile.HostileHarness.PodRequest(Hostile.HostileHarness.Image(":v1")), CancellationToken.None);

        Assert.True(admitted.Allowed, admitted.Status?.Message);
        Assert.False(denied.Allowed);
        Assert.False(deniedElsewhere.Allowed);
    }
}

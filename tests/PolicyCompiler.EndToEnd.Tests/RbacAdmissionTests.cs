using System.Net;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>roles</c> and <c>clusterRoles</c> through the published webhook: each test starts the webhook of this run with
/// <c>Kubernetes:ApiServer</c> pointing at a <see cref="FakeKubernetesApiServer"/> that holds the cluster's bindings
/// (there is no kube-apiserver to run here), so the bindings are read with the host's own client, token and cache.
/// The shared webhook, which has no API, shows the rule failing closed.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class RbacAdmissionTests(WebhookFixture fixture) : IAsyncLifetime
{
    public const string PolicyName = "e2e-deployers-signed";
    public const string RuleName = "deployers-need-signatures";
    public const string ImagePattern = "127.0.0.1:*/e2e/rbac-*";

    /// <summary>Images deployed by holders of the Role team-a:deployer must be signed, unless they hold the ClusterRole break-glass.</summary>
    public static string Policy(string publicKeyPem) => $"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {PolicyName}
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: {RuleName}
              match:
                any:
                - resources:
                    kinds: [Pod]
                  roles: ["team-a:deployer"]
              exclude:
                any:
                - clusterRoles: [break-glass]
              verifyImages:
              - imageReferences: ["{ImagePattern}"]
                attestors:
                - entries:
                  - keys:
                      rekor: {"{"}ignoreTlog: true{"}"}
                      publicKeys: |-
        {string.Join("\n", publicKeyPem.Trim().Split('\n').Select(l => "                  " + l))}
        """;

    private readonly FakeKubernetesApiServer _api = new();
    private readonly TempDirectory _work = new("rbac");
    private WebhookHost? _host;
    private AdmissionClient _admission = null!;

    public async Task InitializeAsync()
    {
        // alice and the builder service account deploy in team-a through RoleBindings (the service account's subject
        // carries no namespace: Kyverno takes the binding's); the team-a-devs group holds the Role too; the sre group is
        // bound to the ClusterRole break-glass cluster-wide.
        _api.RoleBindings.Enqueue(FakeKubernetesApiServer.RoleBinding("team-a", "deployers", "Role", "deployer", ("User", "alice", null), ("Group", "team-a-devs", null)));
        _api.RoleBindings.Enqueue(FakeKubernetesApiServer.RoleBinding("team-a", "bots", "Role", "deployer", ("ServiceAccount", "builder", null)));
        _api.RoleBindings.Enqueue(FakeKubernetesApiServer.RoleBinding("team-b", "viewers", "ClusterRole", "view", ("User", "bob", null)));
        _api.ClusterRoleBindings.Enqueue(FakeKubernetesApiServer.ClusterRoleBinding("sre-break-glass", "break-glass", ("Group", "sre", null)));

        // erin deploys in team-a and audits cluster-wide: only the exclusions test names her.
        _api.RoleBindings.Enqueue(FakeKubernetesApiServer.RoleBinding("team-a", "erin-deploys", "Role", "deployer", ("User", "erin", null)));
        _api.ClusterRoleBindings.Enqueue(FakeKubernetesApiServer.ClusterRoleBinding("erin-audits", "auditor", ("User", "erin", null)));

        var token = _work.Combine("token");
        await File.WriteAllTextAsync(token, "e2e-rbac-token\n");
        _host = await WebhookHost.StartAsync(fixture.Published, fixture.Certificate, _work.Path, [fixture.Registry.Host], ["--Kubernetes:ApiServer=" + _api.Address, "--Kubernetes:TokenFile=" + token]);
        _admission = new AdmissionClient(_host.Client);
    }

    private static JsonObject Review(PushedImage image, string user, params string[] groups)
    {
        var review = AdmissionClient.Review(new TestPod("team-a", "rbac", image.TagReference).ToJson());
        review["request"]!["userInfo"] = new JsonObject { ["username"] = user, ["groups"] = new JsonArray([.. groups.Select(g => (JsonNode)g)]) };
        return review;
    }

    [Fact]
    public async Task AHolderOfTheRoleIsDeniedAnUnsignedImage()
    {
        var byUser = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "alice", "system:authenticated"));
        var byGroup = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "dave", "system:authenticated", "team-a-devs"));
        var byServiceAccount = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "system:serviceaccount:team-a:builder", "system:serviceaccounts"));

        foreach (var result in new[] { byUser, byGroup, byServiceAccount })
        {
            Assert.True(result.Allowed == false, result.Describe() + "\n" + _host!.Describe());
            Assert.Contains($"{PolicyName}:\n  {RuleName}: 'image verification failed", result.MessageText, StringComparison.Ordinal);
            Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AHolderOfTheRoleIsAdmittedASignedImagePinnedToItsDigest()
    {
        var result = await _admission.ReviewAsync("/mutate", Review(fixture.RbacSignedImage, "alice", "system:authenticated"));

        Assert.True(result.Allowed == true, result.Describe() + "\n" + _host!.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == fixture.RbacSignedImage.PinnedReference);
    }

    [Fact]
    public async Task UsersWithoutTheRoleAreNotChecked()
    {
        // bob holds a ClusterRole through a RoleBinding, and the builder of another namespace is another service account.
        var bob = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "bob", "system:authenticated"));
        var otherBuilder = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "system:serviceaccount:team-b:builder", "system:serviceaccounts"));

        Assert.True(bob.Allowed == true, bob.Describe());
        Assert.Empty(bob.PatchOperations);
        Assert.True(otherBuilder.Allowed == true, otherBuilder.Describe());
    }

    [Fact]
    public async Task TheBreakGlassClusterRoleExcludesADeployer()
    {
        var result = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "alice", "system:authenticated", "sre"));

        Assert.True(result.Allowed == true, result.Describe());
    }

    [Fact]
    public async Task KyvernosDefaultExclusionLeavesTheNodesUnjudged()
    {
        // The shared configuration names no exclusions, so Kyverno's chart default applies: group system:nodes.
        var node = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "system:node:worker-1", "system:nodes", "team-a-devs"));

        Assert.True(node.Allowed == true, node.Describe());
        Assert.Empty(node.PatchOperations);
    }

    [Fact]
    public async Task ConfiguredExclusionsAdmitTheirUsersUnjudgedAndAnInclusionTakesOneBack()
    {
        using var work = new TempDirectory("rbac-exclusions");
        var token = work.Combine("token");
        await File.WriteAllTextAsync(token, "e2e-rbac-token\n");
        using var host = await WebhookHost.StartAsync(fixture.Published, fixture.Certificate, work.Path, [fixture.Registry.Host], [
            "--Kubernetes:ApiServer=" + _api.Address,
            "--Kubernetes:TokenFile=" + token,
            "--Kubernetes:ExcludeUsernames:0=ali*",
            "--Kubernetes:ExcludeUsernames:1=!dave",
            "--Kubernetes:ExcludeGroups:0=team-a-*",
            "--Kubernetes:ExcludeClusterRoles:0=audit?r",
        ]);
        var admission = new AdmissionClient(host.Client);

        // Every one of them holds team-a:deployer, so each would be denied the unsigned image if judged.
        var byUsername = await admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "alice", "system:authenticated"));
        var byGroup = await admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "carol", "system:authenticated", "team-a-devs"));
        var byClusterRole = await admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "erin", "system:authenticated"));
        var included = await admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "dave", "system:authenticated", "team-a-devs"));

        foreach (var result in new[] { byUsername, byGroup, byClusterRole })
        {
            Assert.True(result.Allowed == true, result.Describe() + "\n" + host.Describe());
            Assert.Empty(result.PatchOperations);
        }

        Assert.True(included.Allowed == false, included.Describe());
        Assert.Contains("signature not found", included.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BindingsAreListedOnceWithTheTokenAndKeptAcrossReviews()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "bob"))).Allowed == true);
        }

        // The shared policies' namespace selector makes the host ask for namespaces too; only the RBAC reads count here.
        var requests = _api.Requests.Where(r => r.PathAndQuery.StartsWith("/apis/rbac.authorization.k8s.io/", StringComparison.Ordinal)).ToArray();
        Assert.Equal(
            ["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?limit=250", "/apis/rbac.authorization.k8s.io/v1/rolebindings?limit=250"],
            requests.Select(r => r.PathAndQuery).Order(StringComparer.Ordinal));
        Assert.All(requests, r => Assert.Equal("Bearer e2e-rbac-token", r.Authorization));
    }

    [Fact]
    public async Task UnreadableBindingsFailClosed()
    {
        _api.FailWith = HttpStatusCode.Forbidden;

        var result = await _admission.ReviewAsync("/mutate", Review(fixture.RbacUnsignedImage, "bob"));

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"{RuleName}: 'failed to read the RBAC bindings of the requesting user: the API server answered 403 to the read of rolebindings'", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAKubernetesApiTheRuleFailsClosed()
    {
        // A webhook of its own with no API server configured (the shared one reads rule contexts from a fake API).
        using var work = new TempDirectory("rbac-no-api");
        using var host = await WebhookHost.StartAsync(fixture.Published, fixture.Certificate, work.Path, [fixture.Registry.Host], []);
        var result = await new AdmissionClient(host.Client).ReviewAsync("/mutate", Review(fixture.RbacSignedImage, "alice"));

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("the roles of the requesting user are unknown: no Kubernetes API is configured for roles and clusterRoles", result.MessageText, StringComparison.Ordinal);
    }

    public Task DisposeAsync()
    {
        _host?.Dispose();
        _api.Dispose();
        _work.Dispose();
        return Task.CompletedTask;
    }
}

using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// Kyverno's configured request exclusions (ConfigMap <c>excludeUsernames</c>, <c>excludeGroups</c>, <c>excludeRoles</c>,
/// <c>excludeClusterRoles</c>; the host's <c>Kubernetes:Exclude*</c>) through the admission engine: an excluded review
/// meets no rule. The policy pins digests (<c>verifyDigest</c>), so "missing digest" shows that it was judged.
/// </summary>
public sealed class RequestExclusionTests
{
    private const string PolicyYaml = """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pinned
        spec:
          validationFailureAction: Enforce
          rules:
            - name: pinned
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static readonly StaticRoleBindings Cluster = new(
        [new RbacBinding("team-a", "Role", "break-glass", [new RbacSubject("User", "alice", null)])],
        [new RbacBinding(null, "ClusterRole", "platform-admin", [new RbacSubject("Group", "platform", null)])]);

    private static AdmissionEngine Engine(RequestExclusions exclusions, IRoleBindingSource? bindings = null) =>
        new(
            Load(("policy.yaml", PolicyYaml)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { RoleBindings = bindings, Exclusions = exclusions });

    private static AdmissionRequest Pod(string user, params string[] groups) => new()
    {
        Uid = "00000000-0000-0000-0000-000000000004",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = "team-a",
        Name = "app",
        Operation = "CREATE",
        UserInfo = new UserInfo { Username = user, Groups = [.. groups] },
        Object = JsonDocument.Parse("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""").RootElement,
    };

    private static async Task<bool> Judged(AdmissionEngine engine, AdmissionRequest request)
    {
        var response = await engine.ValidateAsync(request, CancellationToken.None);
        if (response.Allowed)
        {
            return false;
        }

        Assert.Contains("missing digest", response.Status!.Message, StringComparison.Ordinal);
        return true;
    }

    [Fact]
    public async Task Kyvernos_chart_default_excludes_the_nodes_and_nobody_else()
    {
        var engine = Engine(RequestExclusions.KyvernoDefaults);

        Assert.False(await Judged(engine, Pod("system:node:worker-1", "system:nodes", "system:authenticated")));
        Assert.True(await Judged(engine, Pod("system:kube-scheduler")));
        Assert.True(await Judged(engine, Pod("system:serviceaccount:kube-system:replicaset-controller", "system:serviceaccounts", "system:serviceaccounts:kube-system")));
        Assert.True(await Judged(Engine(RequestExclusions.None), Pod("system:node:worker-1", "system:nodes")));
    }

    [Fact]
    public async Task Usernames_and_groups_take_wildcards_and_an_inclusion_wins()
    {
        var engine = Engine(new RequestExclusions(
            usernames: ["system:serviceaccount:kube-system:*", "!system:serviceaccount:kube-system:replicaset-controller"],
            groups: [" ci-bot? ", ""]));

        Assert.False(await Judged(engine, Pod("system:serviceaccount:kube-system:deployment-controller")));
        Assert.True(await Judged(engine, Pod("system:serviceaccount:kube-system:replicaset-controller")));
        Assert.False(await Judged(engine, Pod("builder", "ci-bot1")));
        Assert.True(await Judged(engine, Pod("builder", "ci-bot12")));
        Assert.True(await Judged(engine, Pod("alice", "developers")));
    }

    [Fact]
    public async Task Roles_and_cluster_roles_are_read_from_the_bindings()
    {
        var engine = Engine(new RequestExclusions(roles: ["team-a:break-*"], clusterRoles: ["platform-admin"]), Cluster);

        Assert.False(await Judged(engine, Pod("alice")));
        Assert.False(await Judged(engine, Pod("carol", "platform")));
        Assert.True(await Judged(engine, Pod("bob", "developers")));
    }

    [Fact]
    public async Task Roles_that_cannot_be_read_exclude_nobody()
    {
        // No Kubernetes API for the bindings: whether alice holds the excluded role is unknown, so she is judged.
        var engine = Engine(new RequestExclusions(roles: ["team-a:break-glass"]));

        Assert.True(await Judged(engine, Pod("alice")));
    }
}

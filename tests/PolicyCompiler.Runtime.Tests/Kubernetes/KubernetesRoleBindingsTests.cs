using System.Net;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Kubernetes;

/// <summary>
/// The RBAC binding reader (<c>roles</c>/<c>clusterRoles</c>) against <see cref="FakeKubernetesApi"/>: the lists, their
/// pages, the cache, and the API's failures; then Kyverno's derivation of roles from what was read.
/// </summary>
public sealed class KubernetesRoleBindingsTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();
    private readonly FakeTimeProvider _time = new();
    private readonly string _tokenFile = Path.GetTempFileName();

    public KubernetesRoleBindingsTests() => File.WriteAllText(_tokenFile, "token-one\n");

    private KubernetesRoleBindings Reader() => new(new KubernetesApi(_api.Address, _tokenFile, caFile: null), TimeSpan.FromSeconds(30), _time);

    private static string RoleBinding(string ns, string name, string roleKind, string role, string subjects) =>
        $$"""{"kind":"RoleBinding","metadata":{"name":"{{name}}","namespace":"{{ns}}","managedFields":[{"manager":"kubectl"}]},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"{{roleKind}}","name":"{{role}}"},"subjects":[{{subjects}}]}""";

    private static string ClusterRoleBinding(string name, string role, string subjects) =>
        $$"""{"kind":"ClusterRoleBinding","metadata":{"name":"{{name}}"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{{role}}"},"subjects":[{{subjects}}]}""";

    [Fact]
    public async Task Lists_every_binding_of_the_cluster_with_the_service_account_token()
    {
        _api.RoleBindings.Add(RoleBinding("team-a", "deployers", "Role", "deployer", """{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}"""));
        _api.RoleBindings.Add(RoleBinding("team-b", "ops-admin", "ClusterRole", "admin", """{"kind":"Group","name":"ops"},{"kind":"ServiceAccount","name":"builder"}"""));
        _api.ClusterRoleBindings.Add(ClusterRoleBinding("ci", "ci", """{"kind":"ServiceAccount","name":"builder","namespace":"team-a"}"""));
        var reader = Reader();

        var roleBindings = await reader.GetRoleBindingsAsync(CancellationToken.None);
        var clusterRoleBindings = await reader.GetClusterRoleBindingsAsync(CancellationToken.None);

        Assert.Equal(
            [
                new RbacBinding("team-a", "Role", "deployer", [new RbacSubject("User", "alice", null)]),
                new RbacBinding("team-b", "ClusterRole", "admin", [new RbacSubject("Group", "ops", null), new RbacSubject("ServiceAccount", "builder", null)]),
            ],
            roleBindings,
            BindingComparer.Instance);
        Assert.Equal([new RbacBinding(null, "ClusterRole", "ci", [new RbacSubject("ServiceAccount", "builder", "team-a")])], clusterRoleBindings, BindingComparer.Instance);
        Assert.Equal(
            ["/apis/rbac.authorization.k8s.io/v1/rolebindings?limit=250", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?limit=250"],
            _api.PathsAndQueries);
        Assert.All(_api.Requests, r => Assert.Equal("Bearer token-one", r.Authorization));
    }

    [Fact]
    public async Task Large_clusters_are_read_page_by_page()
    {
        for (var i = 0; i < 600; i++)
        {
            _api.RoleBindings.Add(RoleBinding($"ns-{i}", "b", "Role", "deployer", $$"""{"kind":"User","name":"user-{{i}}"}"""));
        }

        var bindings = await Reader().GetRoleBindingsAsync(CancellationToken.None);

        Assert.Equal(600, bindings.Count);
        Assert.Equal("ns-599", bindings[^1].Namespace);
        Assert.Equal(
            [
                "/apis/rbac.authorization.k8s.io/v1/rolebindings?limit=250",
                "/apis/rbac.authorization.k8s.io/v1/rolebindings?limit=250&continue=250",
                "/apis/rbac.authorization.k8s.io/v1/rolebindings?limit=250&continue=500",
            ],
            _api.PathsAndQueries);
    }

    [Fact]
    public async Task Lists_are_kept_for_their_time_to_live_and_concurrent_misses_share_one_request()
    {
        _api.RoleBindings.Add(RoleBinding("team-a", "deployers", "Role", "deployer", """{"kind":"User","name":"alice"}"""));
        _api.Delay = TimeSpan.FromMilliseconds(300);
        var reader = Reader();

        var all = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => reader.GetRoleBindingsAsync(CancellationToken.None).AsTask()));
        _time.Advance(TimeSpan.FromSeconds(29));
        await reader.GetRoleBindingsAsync(CancellationToken.None);
        Assert.Single(_api.Requests);

        _api.RoleBindings.Clear();
        _time.Advance(TimeSpan.FromSeconds(2));
        var later = await reader.GetRoleBindingsAsync(CancellationToken.None);

        Assert.All(all, bindings => Assert.Single(bindings));
        Assert.Empty(later);
        Assert.Equal(2, _api.Requests.Count);
    }

    [Theory]
    [InlineData(403, """{"kind":"Status","message":"rolebindings is forbidden: token-one"}""", "the API server answered 403 to the read of rolebindings")]
    [InlineData(200, """{"kind":"Status"}""", "the API server's list of rolebindings has no items")]
    [InlineData(200, """{"items":""", "the API server's answer is not JSON")]
    public async Task Bad_answers_are_errors_that_are_not_kept_and_never_repeat_the_token(int status, string body, string message)
    {
        _api.ListStatus = (HttpStatusCode)status;
        _api.ListBody = body;
        var reader = Reader();

        var error = await Assert.ThrowsAsync<RoleBindingException>(() => reader.GetRoleBindingsAsync(CancellationToken.None).AsTask());
        _api.ListStatus = HttpStatusCode.OK;
        _api.ListBody = null;
        var recovered = await reader.GetRoleBindingsAsync(CancellationToken.None);

        Assert.Equal(message, error.Message);
        Assert.DoesNotContain("token-one", error.ToString(), StringComparison.Ordinal);
        Assert.Empty(recovered);
        Assert.Equal(2, _api.Requests.Count);
    }

    [Fact]
    public async Task Unreachable_api_server_is_an_error()
    {
        var reader = new KubernetesRoleBindings(new KubernetesApi(new Uri($"http://127.0.0.1:{FakeKubernetesApi.FreePort()}"), null, null), TimeSpan.FromSeconds(30), _time);

        var error = await Assert.ThrowsAsync<RoleBindingException>(() => reader.GetClusterRoleBindingsAsync(CancellationToken.None).AsTask());

        Assert.StartsWith("the API server is unreachable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Roles_follow_kyvernos_derivation()
    {
        RbacBinding[] roleBindings =
        [
            new("team-a", "Role", "deployer", [new RbacSubject("User", "alice", null), new RbacSubject("Group", "team-a-devs", null)]),
            new("team-a", "ClusterRole", "view", [new RbacSubject("User", "alice", null)]),
            new("team-b", "Role", "builder", [new RbacSubject("ServiceAccount", "builder", "team-c")]),
            new("team-b", "Role", "named-like-a-user", [new RbacSubject("User", "builder", null)]),
        ];
        RbacBinding[] clusterRoleBindings =
        [
            new(null, "ClusterRole", "ci", [new RbacSubject("ServiceAccount", "builder", "team-c")]),
            new(null, "ClusterRole", "all-devs", [new RbacSubject("Group", "team-a-devs", null)]),
        ];
        var alice = new UserInfo { Username = "alice" };
        var dev = new UserInfo { Username = "dave", Groups = ["system:authenticated", "team-a-devs"] };
        var builder = new UserInfo { Username = "system:serviceaccount:team-b:builder", Groups = ["team-a-devs"] };
        var builderOfC = new UserInfo { Username = "system:serviceaccount:team-c:builder" };

        Assert.Equal(["team-a:deployer"], UserRoles.Roles(alice, roleBindings));
        Assert.Equal(["view"], UserRoles.ClusterRoles(alice, roleBindings, clusterRoleBindings));
        Assert.Equal(["team-a:deployer"], UserRoles.Roles(dev, roleBindings));
        Assert.Equal(["all-devs"], UserRoles.ClusterRoles(dev, roleBindings, clusterRoleBindings));

        // A RoleBinding names a service account by its own namespace (and, as in Kyverno, whatever the subject's kind);
        // a service account's groups are never compared.
        Assert.Equal(["team-b:builder", "team-b:named-like-a-user"], UserRoles.Roles(builder, roleBindings).Order(StringComparer.Ordinal));
        Assert.Empty(UserRoles.ClusterRoles(builder, roleBindings, clusterRoleBindings));

        // A ClusterRoleBinding names it by the subject's namespace.
        Assert.Empty(UserRoles.Roles(builderOfC, roleBindings));
        Assert.Equal(["ci"], UserRoles.ClusterRoles(builderOfC, roleBindings, clusterRoleBindings));

    }

    public void Dispose()
    {
        _api.Dispose();
        File.Delete(_tokenFile);
    }

    private sealed class BindingComparer : IEqualityComparer<RbacBinding>
    {
        public static readonly BindingComparer Instance = new();

        public bool Equals(RbacBinding? x, RbacBinding? y) =>
            x is not null && y is not null && x.Namespace == y.Namespace && x.RoleKind == y.RoleKind && x.RoleName == y.RoleName && x.Subjects.SequenceEqual(y.Subjects);

        public int GetHashCode(RbacBinding obj) => obj.RoleName.GetHashCode(StringComparison.Ordinal);
    }
}

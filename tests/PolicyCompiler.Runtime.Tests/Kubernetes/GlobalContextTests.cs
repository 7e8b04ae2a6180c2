using System.Net;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Services;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Tests.Shared;

namespace PolicyCompiler.Runtime.Tests.Kubernetes;

/// <summary>
/// <c>globalReference</c> context entries: GlobalContextEntry resources read through <see cref="KubernetesApi"/> from
/// <see cref="FakeKubernetesApi"/> (a real HTTP server on loopback), their data listed or called, and kept.
/// </summary>
public sealed class GlobalContextTests : IDisposable
{
    private const string EntryPath = "/apis/kyverno.io/v2alpha1/globalcontextentries/";
    private readonly FakeKubernetesApi _api = new();
    private readonly FakeTimeProvider _time = new();
    private readonly ServiceCaller _services = new();

    public void Dispose()
    {
        _api.Dispose();
        _services.Dispose();
    }

    private KubernetesGlobalContext Global() => new(new KubernetesApi(_api.Address, null, null), _services, TimeSpan.FromSeconds(30), _time);

    private static JmesObject Admission() => new JmesObject(1).Set("request", JmesValue.ParseJson("""{"namespace":"team-a"}"""));

    private static Task<JmesObject> Load(KubernetesGlobalContext global, params ContextEntryDefinition[] entries) =>
        ContextLoader.LoadAsync([.. entries], Admission(), null, new ContextSources(null, null, global), new JmesContext(), CancellationToken.None);

    private static GlobalReferenceContextEntry Reference(string entry, JmesFunc? jmesPath = null) => new("global", (_, _) => JmesValue.From(entry), jmesPath);

    private void ServeDeploymentsEntry() =>
        _api.Paths[EntryPath + "deployments"] = """
            {"apiVersion":"kyverno.io/v2alpha1","kind":"GlobalContextEntry","metadata":{"name":"deployments"},
             "spec":{"kubernetesResource":{"group":"apps","version":"v1","resource":"deployments","namespace":"team-a"}}}
            """;

    [Fact]
    public async Task Kubernetes_resource_entry_gives_the_list_of_its_objects_with_their_type()
    {
        ServeDeploymentsEntry();
        _api.Paths["/apis/apps/v1/namespaces/team-a/deployments"] = """
            {"kind":"DeploymentList","apiVersion":"apps/v1","metadata":{"resourceVersion":"7"},
             "items":[{"metadata":{"name":"web"},"spec":{"replicas":2}},{"metadata":{"name":"api"},"spec":{"replicas":3}}]}
            """;

        var values = await Load(Global(), Reference("deployments"));

        Assert.Equal(
            """[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"},"spec":{"replicas":3}}]""",
            values["global"].ToJsonString());
        Assert.Contains("/apis/apps/v1/namespaces/team-a/deployments?limit=250", _api.PathsAndQueries);
    }

    [Fact]
    public async Task Jmespath_selects_from_the_entry_data()
    {
        ServeDeploymentsEntry();
        _api.Paths["/apis/apps/v1/namespaces/team-a/deployments"] = """{"kind":"DeploymentList","items":[{"metadata":{"name":"web"}},{"metadata":{"name":"api"}}]}""";

        var values = await Load(Global(), Reference("deployments", static (input, c) => Jmes.Project(input, static (v, _) => v.Field("metadata").Field("name"), c)));

        Assert.Equal("""["web","api"]""", values["global"].ToJsonString());
    }

    [Fact]
    public async Task Core_group_resources_are_listed_under_api_v1()
    {
        _api.Paths[EntryPath + "namespaces"] = """{"spec":{"kubernetesResource":{"group":"","version":"v1","resource":"namespaces"}}}""";
        _api.Paths["/api/v1/namespaces"] = """{"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"default"}}]}""";

        var values = await Load(Global(), Reference("namespaces"));

        Assert.Equal("""[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}]""", values["global"].ToJsonString());
    }

    [Fact]
    public async Task Api_call_entry_gives_the_answer_of_its_call_on_the_api_server()
    {
        _api.Paths[EntryPath + "review"] = """
            {"spec":{"apiCall":{"urlPath":"/apis/authorization.k8s.io/v1/subjectaccessreviews","method":"POST",
              "data":[{"key":"kind","value":"SubjectAccessReview"},{"key":"spec","value":{"user":"alice"}}],"refreshInterval":"1m"}}}
            """;
        _api.Paths["/apis/authorization.k8s.io/v1/subjectaccessreviews"] = """{"status":{"allowed":true}}""";

        var values = await Load(Global(), Reference("review"));

        Assert.Equal("""{"status":{"allowed":true}}""", values["global"].ToJsonString());
        var call = Assert.Single(_api.Calls, c => c.Path == "/apis/authorization.k8s.io/v1/subjectaccessreviews");
        Assert.Equal(("POST", """{"kind":"SubjectAccessReview","spec":{"user":"alice"}}"""), (call.Method, call.Body));
    }

    [Fact]
    public async Task Api_call_entry_to_a_service_is_made_with_its_ca_bundle_and_headers()
    {
        await using var service = await TestHttpsService.StartAsync();
        service.Answer = _ => new ServiceAnswer(200, """{"registries":["ghcr.io/org"]}""");
        _api.Paths[EntryPath + "registries"] = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["spec"] = new Dictionary<string, object>
            {
                ["apiCall"] = new Dictionary<string, object>
                {
                    ["service"] = new Dictionary<string, object>
                    {
                        ["url"] = new Uri(service.Address, "/registries").ToString(),
                        ["caBundle"] = service.CaPem,
                        ["headers"] = new[] { new Dictionary<string, string> { ["key"] = "X-Api-Key", ["value"] = "k-1" } },
                    },
                },
            },
        });

        var values = await Load(Global(), Reference("registries", static (input, _) => input.Field("registries")));

        Assert.Equal("""["ghcr.io/org"]""", values["global"].ToJsonString());
        var request = Assert.Single(service.Requests);
        Assert.Equal(("GET", "/registries", "k-1"), (request.Method, request.PathAndQuery, request.Headers["X-Api-Key"]));
    }

    [Fact]
    public async Task Data_is_kept_for_the_refresh_interval_and_read_again_after_it()
    {
        _api.Paths[EntryPath + "review"] = """{"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/answers","refreshInterval":"2m"}}}""";
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":1}""";
        var global = Global();

        Assert.Equal("""{"n":1}""", (await Load(global, Reference("review")))["global"].ToJsonString());
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":2}""";
        _time.Advance(TimeSpan.FromSeconds(90));
        Assert.Equal("""{"n":1}""", (await Load(global, Reference("review")))["global"].ToJsonString());
        _time.Advance(TimeSpan.FromSeconds(31));

        Assert.Equal("""{"n":2}""", (await Load(global, Reference("review")))["global"].ToJsonString());
        Assert.Equal(2, _api.Calls.Count(c => c.Path == "/apis/example.io/v1/answers"));
    }

    [Fact]
    public async Task Entry_served_as_v2beta1_only_is_read()
    {
        _api.Paths["/apis/kyverno.io/v2beta1/globalcontextentries/review"] = """{"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/answers"}}}""";
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":1}""";

        var values = await Load(Global(), Reference("review"));

        Assert.Equal("""{"n":1}""", values["global"].ToJsonString());
    }

    [Fact]
    public async Task A_missing_entry_fails_the_rule_as_kyverno_words_it()
    {
        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("absent")));

        Assert.False(e.IsTransient);
        Assert.Equal("failed to marshal APICall data for context entry global: failed to fetch entry key=absent", e.Message);
    }

    [Fact]
    public async Task An_entry_whose_data_cannot_be_loaded_is_not_ready()
    {
        _api.Paths[EntryPath + "review"] = """{"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/missing"}}}""";

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("review")));

        Assert.False(e.IsTransient);
        Assert.Equal("failed to marshal APICall data for context entry global: global context entry review is not ready: /apis/example.io/v1/missing does not exist", e.Message);
    }

    [Fact]
    public async Task An_api_server_error_is_transient_and_not_kept()
    {
        ServeDeploymentsEntry();
        _api.Paths["/apis/apps/v1/namespaces/team-a/deployments"] = """{"kind":"DeploymentList","items":[]}""";
        _api.Status = HttpStatusCode.ServiceUnavailable;
        var global = Global();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(global, Reference("deployments")));
        Assert.True(e.IsTransient);
        Assert.Contains("the API server answered 503", e.Message, StringComparison.Ordinal);

        _api.Status = HttpStatusCode.OK;
        Assert.Equal("[]", (await Load(global, Reference("deployments")))["global"].ToJsonString());
    }

    [Fact]
    public async Task An_entry_with_both_sources_is_refused()
    {
        _api.Paths[EntryPath + "both"] = """{"spec":{"apiCall":{"urlPath":"/apis/x/v1/y"},"kubernetesResource":{"group":"apps","version":"v1","resource":"deployments"}}}""";

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("both")));

        Assert.EndsWith("a global context entry should either have kubernetesResource or apiCall", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_api_the_entry_cannot_be_read()
    {
        var e = await Assert.ThrowsAsync<ContextDataException>(() => ContextLoader.LoadAsync([Reference("deployments")], Admission(), null, new ContextSources(null), new JmesContext(), CancellationToken.None));

        Assert.Equal("failed to marshal APICall data for context entry global: failed to fetch entry key=deployments: no Kubernetes API is configured", e.Message);
    }

    private void ServeDeploymentsWithProjections(string projections)
    {
        _api.Paths[EntryPath + "deployments"] = $$$"""
            {"spec":{"kubernetesResource":{"group":"apps","version":"v1","resource":"deployments","namespace":"team-a"},
             "projections":{{{projections}}}}}
            """;
        _api.Paths["/apis/apps/v1/namespaces/team-a/deployments"] = """
            {"kind":"DeploymentList","items":[{"metadata":{"name":"web"},"spec":{"replicas":2}},{"metadata":{"name":"api"},"spec":{"replicas":3}}]}
            """;
    }

    [Fact]
    public async Task Projection_of_a_resource_entry_is_its_jmespath_over_the_objects()
    {
        ServeDeploymentsWithProjections("""[{"name":"names","jmesPath":"[].metadata.name"},{"name":"replicas","jmesPath":"sum([].spec.replicas)"}]""");
        var global = Global();

        var values = await Load(global, Reference("deployments.names"), new GlobalReferenceContextEntry("replicas", (_, _) => JmesValue.From("deployments.replicas")), new GlobalReferenceContextEntry("all", (_, _) => JmesValue.From("deployments")));

        Assert.Equal("""["web","api"]""", values["global"].ToJsonString());
        Assert.Equal("5", values["replicas"].ToJsonString());
        Assert.Equal(2, Assert.IsType<JmesValue>(values["all"]).GetArrayLength());
        Assert.Single(_api.Calls, c => c.Path == "/apis/apps/v1/namespaces/team-a/deployments");
    }

    [Fact]
    public async Task A_rule_jmespath_applies_to_the_projection()
    {
        ServeDeploymentsWithProjections("""[{"name":"names","jmesPath":"[].metadata.name"}]""");

        var values = await Load(Global(), Reference("deployments.names", static (input, _) => Jmes.Index(input, 1)));

        Assert.Equal("\"api\"", values["global"].ToJsonString());
    }

    [Fact]
    public async Task Projection_of_an_api_call_entry_calls_kyverno_functions()
    {
        _api.Paths[EntryPath + "registries"] = """
            {"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/registries"},
             "projections":[{"name":"trusted","jmesPath":"registries[?starts_with(@, 'ghcr.io/')] | [].to_upper(@)"}]}}
            """;
        _api.Paths["/apis/example.io/v1/registries"] = """{"registries":["ghcr.io/org","docker.io/library"]}""";

        var values = await Load(Global(), Reference("registries.trusted"));

        Assert.Equal("""["GHCR.IO/ORG"]""", values["global"].ToJsonString());
    }

    [Fact]
    public async Task An_unknown_projection_fails_the_rule()
    {
        ServeDeploymentsWithProjections("""[{"name":"names","jmesPath":"[].metadata.name"}]""");

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("deployments.owners")));

        Assert.False(e.IsTransient);
        Assert.Equal("failed to marshal APICall data for context entry global: projection \"owners\" not found", e.Message);
    }

    [Fact]
    public async Task Kyverno_reads_the_first_two_parts_of_a_name_computed_at_admission()
    {
        ServeDeploymentsWithProjections("""[{"name":"names","jmesPath":"[].metadata.name"}]""");

        var values = await Load(Global(), Reference("deployments.names.ignored"), new GlobalReferenceContextEntry("whole", (_, _) => JmesValue.From("deployments.")));

        Assert.Equal("""["web","api"]""", values["global"].ToJsonString());
        Assert.Equal(2, values["whole"].GetArrayLength());
    }

    [Fact]
    public async Task A_failing_projection_of_a_resource_entry_fails_only_itself()
    {
        ServeDeploymentsWithProjections("""[{"name":"bad","jmesPath":"abs([0].metadata)"},{"name":"names","jmesPath":"[].metadata.name"}]""");
        var global = Global();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(global, Reference("deployments.bad")));
        var values = await Load(global, Reference("deployments.names"));

        Assert.False(e.IsTransient);
        Assert.StartsWith("failed to marshal APICall data for context entry global: failed to apply projection \"bad\": invalid type for argument 1 of abs()", e.Message, StringComparison.Ordinal);
        Assert.Equal("""["web","api"]""", values["global"].ToJsonString());
    }

    [Fact]
    public async Task A_failing_projection_of_an_api_call_entry_makes_the_entry_not_ready()
    {
        _api.Paths[EntryPath + "review"] = """
            {"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/answers"},"projections":[{"name":"bad","jmesPath":"abs(n)"}]}}
            """;
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":"one"}""";

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("review")));

        Assert.False(e.IsTransient);
        Assert.StartsWith("failed to marshal APICall data for context entry global: global context entry review is not ready: failed to apply projection \"bad\": invalid type for argument 1 of abs()", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_null_projection_of_an_api_call_entry_is_no_data_as_kyverno_has_it()
    {
        _api.Paths[EntryPath + "review"] = """
            {"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/answers"},"projections":[{"name":"absent","jmesPath":"missing"}]}}
            """;
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":1}""";
        var global = Global();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(global, Reference("review.absent")));

        Assert.Equal("failed to marshal APICall data for context entry global: failed to apply projection \"absent\": no data available", e.Message);
        Assert.Equal("""{"n":1}""", (await Load(global, Reference("review")))["global"].ToJsonString());
    }

    [Fact]
    public async Task A_projection_that_does_not_parse_makes_the_entry_not_ready_without_loading_it()
    {
        ServeDeploymentsWithProjections("""[{"name":"names","jmesPath":"[?metadata.name =="}]""");

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(Global(), Reference("deployments")));

        Assert.False(e.IsTransient);
        Assert.StartsWith("failed to marshal APICall data for context entry global: global context entry deployments is not ready: failed to parse jmespath query: invalid JMESPath [?metadata.name ==: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_api.Calls, c => c.Path.StartsWith("/apis/apps/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Projections_are_computed_again_with_the_data()
    {
        _api.Paths[EntryPath + "review"] = """
            {"spec":{"apiCall":{"urlPath":"/apis/example.io/v1/answers","refreshInterval":"1m"},"projections":[{"name":"twice","jmesPath":"multiply(n, `2`)"}]}}
            """;
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":1}""";
        var global = Global();

        Assert.Equal("2", (await Load(global, Reference("review.twice")))["global"].ToJsonString());
        _api.Paths["/apis/example.io/v1/answers"] = """{"n":4}""";
        _time.Advance(TimeSpan.FromSeconds(61));

        Assert.Equal("8", (await Load(global, Reference("review.twice")))["global"].ToJsonString());
    }
}

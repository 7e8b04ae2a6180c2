using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// Rule <c>context</c> entries: compiled to runtime definitions, their mistakes reported at their line and column, and
/// their values read by the rule's preconditions. The policies pin digests without verifying signatures
/// (<c>verifyDigest</c>), so the validating pass decides without a registry: "missing digest" shows that the rule applied.
/// </summary>
public sealed class ContextEntryTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    // The context entries start on line 14, indented by six spaces.
    private static string Policy(string context, string preconditions = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: with-context
        spec:
          validationFailureAction: Enforce
          rules:
            - name: check
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
        {{context}}
        {{preconditions}}
              verifyImages:
              - imageReferences: ["registry.invalid/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static AdmissionEngine Engine(string yaml, IContextDataSource? data = null) =>
        new(Load(("policy.yaml", yaml)), new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)), new AdmissionEngineServices { ContextData = data });

    private static AdmissionRequest Pod(string @namespace, string image = "registry.invalid/org/app:v1") => new()
    {
        Uid = "00000000-0000-0000-0000-000000000003",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = @namespace,
        Name = "app",
        Operation = "CREATE",
        Object = JsonDocument.Parse($$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"{{{image}}}"}]}}""").RootElement,
    };

    /// <summary>The denial as one line: Kyverno's YAML encoder folds long reasons onto indented continuation lines.</summary>
    private static string Unfolded(string message) => System.Text.RegularExpressions.Regex.Replace(message, "\n +", " ");

    private const string TeamPrecondition = """
              preconditions:
                all:
                - key: "{{ team }}"
                  operator: Equals
                  value: "payments"
        """;

    [Fact]
    public void Every_source_compiles_to_its_runtime_definition_in_order()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: keys
                    configMap:
                      name: keys
                      namespace: "{{ request.namespace }}"
                  - name: replicas
                    apiCall:
                      urlPath: "/apis/apps/v1/namespaces/{{ request.namespace }}/deployments"
                      jmesPath: "items[].spec.replicas"
                      default: []
                  - name: review
                    apiCall:
                      urlPath: /apis/authorization.k8s.io/v1/subjectaccessreviews
                      method: POST
                      data:
                      - key: kind
                        value: SubjectAccessReview
                  - name: team
                    variable:
                      value: "{{ request.object.metadata.labels.team }}"
                      default: none
            """))));

        var context = policy.Rules[0].Context;
        Assert.Equal(["keys", "replicas", "review", "team"], context.Select(e => e.Name));
        Assert.IsType<ConfigMapContextEntry>(context[0]);
        var replicas = Assert.IsType<ApiCallContextEntry>(context[1]);
        Assert.Equal("GET", replicas.Method);
        Assert.NotNull(replicas.JmesPath);
        Assert.NotNull(replicas.Default);
        var review = Assert.IsType<ApiCallContextEntry>(context[2]);
        Assert.Equal("POST", review.Method);
        Assert.Equal("kind", Assert.Single(review.Data).Key);
        var team = Assert.IsType<VariableContextEntry>(context[3]);
        Assert.NotNull(team.Value);
        Assert.Null(team.JmesPath);
    }

    [Fact]
    public void Literal_configmap_names_and_written_urlpaths_are_kept_for_the_printed_rbac()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: fixed
                    configMap:
                      name: keys
                      namespace: kyverno
                  - name: templated
                    configMap:
                      name: "{{ request.namespace }}-keys"
                      namespace: "{{ request.namespace }}"
                  - name: unwritten
                    configMap:
                      name: keys
                  - name: replicas
                    apiCall:
                      urlPath: "/apis/apps/v1/namespaces/{{ request.namespace }}/deployments"
                      default: []
                  - name: nodes
                    apiCall:
                      urlPath: /api/v1/nodes
            """))));

        var context = policy.Rules[0].Context;
        var fixedEntry = Assert.IsType<ConfigMapContextEntry>(context[0]);
        Assert.Equal(("keys", "kyverno"), (fixedEntry.LiteralName, fixedEntry.LiteralNamespace));
        var templated = Assert.IsType<ConfigMapContextEntry>(context[1]);
        Assert.Equal((null, null), (templated.LiteralName, templated.LiteralNamespace));
        Assert.NotNull(templated.Namespace);
        var unwritten = Assert.IsType<ConfigMapContextEntry>(context[2]);
        Assert.Equal(("keys", null), (unwritten.LiteralName, unwritten.LiteralNamespace));
        Assert.Null(unwritten.Namespace);
        Assert.Equal("/apis/apps/v1/namespaces/{{ request.namespace }}/deployments", Assert.IsType<ApiCallContextEntry>(context[3]).UrlPathText);
        Assert.Equal("/api/v1/nodes", Assert.IsType<ApiCallContextEntry>(context[4]).UrlPathText);
    }

    [Fact]
    public void Kyverno_library_policy_with_keys_in_a_configmap_compiles_to_keys_substituted_at_admission()
    {
        var yaml = TestFiles.Read("kyverno-policies", "verify-image-with-multi-keys/verify-image-with-multi-keys.yaml");

        var rule = Assert.Single(Assert.Single(Load(("verify-image-with-multi-keys.yaml", yaml))).Rules, r => r.Name == "check-image-with-two-keys");

        var configMap = Assert.IsType<ConfigMapContextEntry>(Assert.Single(rule.Context));
        Assert.Equal("keys", configMap.Name);
        var set = Assert.Single(Assert.Single(rule.VerifyImages).Attestors);
        Assert.Equal(2, set.Count);
        Assert.Equal(
            ["{{ keys.data.production }}", "{{ keys.data.{{request.namespace}} }}"],
            set.Entries.Select(e => Assert.IsType<VariableKeyAttestorDefinition>(e).Text));

        // The nested variable names the field: the namespace's own key in the ConfigMap.
        var root = Runtime.Conditions.JmesValue.ParseJson("""{"request":{"namespace":"team-a"},"keys":{"data":{"production":"P","team-a":"A"}}}""");
        var context = new Runtime.Conditions.JmesContext();
        Assert.Equal("P", ((VariableKeyAttestorDefinition)set.Entries[0]).Template(root, context).GetString());
        Assert.Equal("A", ((VariableKeyAttestorDefinition)set.Entries[1]).Template(root, context).GetString());
    }

    [Fact]
    public async Task Preconditions_read_a_variable_entry_built_from_the_request()
    {
        var engine = Engine(Policy("""
                  - name: team
                    variable:
                      jmesPath: "request.namespace"
            """, TeamPrecondition));

        var payments = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);
        var other = await engine.ValidateAsync(Pod("web"), CancellationToken.None);

        Assert.False(payments.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/app:v1", payments.Status!.Message, StringComparison.Ordinal);
        Assert.True(other.Allowed);
    }

    [Fact]
    public async Task Preconditions_read_a_configmap_entry_whose_name_is_a_variable()
    {
        var data = new FakeContextData { ["payments/owners"] = """{"metadata":{"name":"owners"},"data":{"team":"payments"}}""" };
        var engine = Engine(Policy("""
                  - name: owners
                    configMap:
                      name: owners
                      namespace: "{{ request.namespace }}"
                  - name: team
                    variable:
                      value: "{{ owners.data.team }}"
            """, TeamPrecondition), data);

        var response = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Contains("missing digest", response.Status!.Message, StringComparison.Ordinal);
        Assert.Equal(["payments/owners"], data.Reads);
    }

    [Fact]
    public async Task Missing_configmap_fails_the_rule_as_kyverno_fails_it()
    {
        var engine = Engine(Policy("""
                  - name: owners
                    configMap:
                      name: owners
            """), new FakeContextData());

        var response = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Contains("check: 'failed to load context: failed to retrieve config map for context entry owners: failed to get configmap default/owners: configmap default/owners does not exist'", Unfolded(response.Status!.Message!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_covers_no_image_never_loads_its_context()
    {
        var data = new FakeContextData();
        var engine = Engine(Policy("""
                  - name: owners
                    configMap:
                      name: owners
            """), data);

        var response = await engine.ValidateAsync(Pod("payments", "docker.io/library/nginx:1"), CancellationToken.None);

        Assert.True(response.Allowed);
        Assert.Empty(data.Reads);
    }

    [Fact]
    public async Task Variable_that_evaluates_to_null_fails_the_rule()
    {
        var engine = Engine(Policy("""
                  - name: team
                    variable:
                      jmesPath: "request.object.metadata.labels.team"
            """));

        var response = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Contains("failed to load context: failed to add context entry for variable team since it evaluated to nil", Unfolded(response.Status!.Message!), StringComparison.Ordinal);
    }

    [Fact]
    public void PC0025_entry_without_a_source_is_a_build_error_at_its_name()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: keys
            """));

        var diagnostic = run.Single("PC0025");
        DiagnosticAssert.At(diagnostic, File, 14, 15);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0]' names no source. Give exactly one of variable, configMap, apiCall or globalReference.");
    }

    [Fact]
    public void PC0025_entry_with_two_sources_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: keys
                    configMap:
                      name: keys
                    variable:
                      value: x
            """));

        var diagnostic = run.Single("PC0025");
        DiagnosticAssert.At(diagnostic, File, 14, 15);
        DiagnosticAssert.MessageContains(diagnostic, "names variable and configMap");
    }

    [Fact]
    public void PC0026_duplicate_entry_name_is_a_build_error_at_the_second()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: keys
                    variable:
                      value: a
                  - name: keys
                    variable:
                      value: b
            """));

        var diagnostic = run.Single("PC0026");
        DiagnosticAssert.At(diagnostic, File, 17, 15);
        DiagnosticAssert.MessageContains(diagnostic, "Context entry 'keys' is defined twice in this rule.");
    }

    [Fact]
    public async Task Variable_in_a_jmespath_names_the_field_to_read()
    {
        // Kyverno's form: the namespace picks the ConfigMap key. The variable reads the context, the path the entry's data.
        var data = new FakeContextData { ["default/owners"] = """{"metadata":{"name":"owners"},"data":{"payments":"payments","web":"web-team"}}""" };
        var engine = Engine(Policy("""
                  - name: owners
                    configMap:
                      name: owners
                  - name: team
                    variable:
                      jmesPath: 'owners.data."{{ request.namespace }}"'
            """, TeamPrecondition), data);

        var payments = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);
        var web = await engine.ValidateAsync(Pod("web"), CancellationToken.None);

        Assert.False(payments.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/app:v1", payments.Status!.Message, StringComparison.Ordinal);
        Assert.True(web.Allowed);
    }

    [Fact]
    public void Variable_in_a_jmespath_compiles_to_an_expression_over_the_data_with_variables_over_the_context()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: replicas
                    apiCall:
                      urlPath: /apis/apps/v1/deployments
                      jmesPath: "items[?metadata.namespace == '{{ request.namespace }}'].spec.replicas"
                  - name: image
                    imageRegistry:
                      reference: "{{ request.object.spec.containers[0].image }}"
                      jmesPath: "configData.config.Labels.\"{{ request.object.metadata.labels.team }}\""
            """))));

        var apiCall = Assert.IsType<ApiCallContextEntry>(policy.Rules[0].Context[0]);
        var image = Assert.IsType<ImageRegistryContextEntry>(policy.Rules[0].Context[1]);
        Assert.Null(apiCall.JmesPath);
        Assert.Null(image.JmesPath);
        var root = Runtime.Conditions.JmesValue.ParseJson("""{"request":{"namespace":"team-a","object":{"metadata":{"labels":{"team":"payments"}}}}}""");
        var answer = Runtime.Conditions.JmesValue.ParseJson("""{"items":[{"metadata":{"namespace":"team-a"},"spec":{"replicas":2}},{"metadata":{"namespace":"team-b"},"spec":{"replicas":5}}]}""");
        var imageData = Runtime.Conditions.JmesValue.ParseJson("""{"configData":{"config":{"Labels":{"payments":"owned","web":"other"}}}}""");
        var context = new Runtime.Conditions.JmesContext();

        Assert.Equal("[2]", apiCall.JmesPathWithVariables!(answer, root, context).ToJsonString());
        Assert.Equal("owned", image.JmesPathWithVariables!(imageData, root, context).GetString());

        // A quote in the value stays inside the literal: it cannot change what the expression means.
        var hostile = Runtime.Conditions.JmesValue.ParseJson("""{"request":{"namespace":"x' || `true` || '"}}""");
        Assert.Equal("[]", apiCall.JmesPathWithVariables!(answer, hostile, context).ToJsonString());
    }

    [Fact]
    public async Task Variable_in_a_jmespath_that_does_not_resolve_fails_the_rule_despite_a_default()
    {
        // Kyverno substitutes the jmesPath before it applies it, and a failed substitution is an error, not the default.
        var engine = Engine(Policy("""
                  - name: team
                    variable:
                      jmesPath: 'request.object.metadata.labels."{{ request.object.metadata.annotations.owner }}"'
                      default: payments
            """, TeamPrecondition));

        var response = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Contains("failed to load context: failed to substitute variables in context entry team jmesPath:", Unfolded(response.Status!.Message!), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_variable_inside_a_jmespath_is_a_build_error_at_its_column()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: team
                    variable:
                      jmesPath: 'owners.data."{{ request.[ }}"'
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.At(diagnostic, File, 16, 48);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].variable.jmesPath' has an invalid variable");
    }

    [Fact]
    public void Bad_jmespath_is_a_build_error_at_its_column()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: team
                    variable:
                      jmesPath: "request.namespace[="
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.At(diagnostic, File, 16, 40);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].variable.jmesPath' has an invalid variable");
    }

    [Fact]
    public void Unknown_field_of_an_entry_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: keys
                    configMap:
                      name: keys
                      namepsace: default
            """));

        var diagnostic = run.Single("PC0002");
        DiagnosticAssert.At(diagnostic, File, 17, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'namepsace' is not a field of ConfigMapReference");
    }

    [Fact]
    public void Reserved_name_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: request
                    variable:
                      value: x
            """));

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.At(diagnostic, File, 14, 15);
        DiagnosticAssert.MessageContains(diagnostic, "'request' is not a valid context entry name: Kyverno fills 'request' itself");
    }

    [Fact]
    public void Data_on_a_get_call_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: review
                    apiCall:
                      urlPath: /apis/authorization.k8s.io/v1/subjectaccessreviews
                      data:
                      - key: kind
                        value: SubjectAccessReview
            """));

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.At(diagnostic, File, 17, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].apiCall.data' cannot be combined with 'method: GET'");
    }

    [Fact]
    public void Image_registry_entry_compiles_with_its_reference_jmespath_and_credentials()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: imageData
                    imageRegistry:
                      reference: "{{ request.object.spec.containers[0].image }}"
                      jmesPath: "{user: configData.config.User || '', layers: length(manifest.layers)}"
                      imageRegistryCredentials:
                        allowInsecureRegistry: true
                        providers: [default, amazon]
                        secrets: [regcred]
            """))));

        var entry = Assert.IsType<ImageRegistryContextEntry>(Assert.Single(policy.Rules[0].Context));
        Assert.Equal("imageData", entry.Name);
        Assert.True(entry.RegistryCredentials!.AllowInsecure);
        Assert.Equal(["regcred"], entry.RegistryCredentials.Secrets.ToArray());
        Assert.Equal(["default", "amazon"], entry.RegistryCredentials.Providers.ToArray());

        // The compiled reference reads the request; the compiled jmesPath reads Kyverno's image data object.
        var request = Runtime.Conditions.JmesValue.FromJson(JsonDocument.Parse("""{"request":{"object":{"spec":{"containers":[{"image":"registry.invalid/org/app:v1"}]}}}}""").RootElement);
        Assert.Equal("registry.invalid/org/app:v1", entry.Reference(request, new Runtime.Conditions.JmesContext()).GetString());
        var root = Runtime.Conditions.JmesValue.FromJson(JsonDocument.Parse("""{"configData":{"config":{"User":"0"}},"manifest":{"layers":[{},{},{}]}}""").RootElement);
        Assert.Equal("""{"user":"0","layers":3}""", entry.JmesPath!(root, new Runtime.Conditions.JmesContext()).ToJsonString());
        var bare = Runtime.Conditions.JmesValue.FromJson(JsonDocument.Parse("""{"configData":{"config":{}},"manifest":{"layers":[]}}""").RootElement);
        Assert.Equal("""{"user":"","layers":0}""", entry.JmesPath!(bare, new Runtime.Conditions.JmesContext()).ToJsonString());
    }

    [Fact]
    public void Image_registry_entry_without_credentials_or_jmespath_reads_the_whole_object()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: imageData
                    imageRegistry:
                      reference: "ghcr.io/org/app:v1"
            """))));

        var entry = Assert.IsType<ImageRegistryContextEntry>(Assert.Single(policy.Rules[0].Context));
        Assert.Null(entry.JmesPath);
        Assert.Null(entry.RegistryCredentials);
        Assert.Equal("ghcr.io/org/app:v1", entry.Reference(Runtime.Conditions.JmesValue.Null, new Runtime.Conditions.JmesContext()).GetString());
    }

    [Fact]
    public void Image_registry_entry_without_a_reference_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: imageData
                    imageRegistry:
                      jmesPath: configData
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.At(diagnostic, File, 16, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].imageRegistry' requires 'reference'. Add it, for example: reference: \"{{ request.object.spec.containers[0].image }}\"");
    }

    [Fact]
    public void Image_registry_entry_field_mistakes_are_build_errors_at_their_column()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: imageData
                    imageRegistry:
                      reference: "{{ request.[ }}"
                      jmesPath: "manifest.layers | length("
                      ref: ghcr.io/org/app:v1
                      imageRegistryCredentials:
                        secrets: [Not_A_Name]
                        providers: [aws]
                        insecure: true
            """));

        var expressions = run.GeneratorDiagnostics.Where(d => d.Id == "PC0023").OrderBy(d => d.Location.GetLineSpan().StartLinePosition.Line).ToList();
        Assert.Equal(2, expressions.Count);
        Assert.Equal(16, expressions[0].Location.GetLineSpan().StartLinePosition.Line + 1);
        DiagnosticAssert.MessageContains(expressions[0], "'spec.rules[0].context[0].imageRegistry.reference' has an invalid variable");
        Assert.Equal(17, expressions[1].Location.GetLineSpan().StartLinePosition.Line + 1);
        DiagnosticAssert.MessageContains(expressions[1], "'spec.rules[0].context[0].imageRegistry.jmesPath'");
        Assert.Equal(6, run.GeneratorDiagnostics.Length);
        var unknown = run.GeneratorDiagnostics.Where(d => d.Id == "PC0002").OrderBy(d => d.Location.GetLineSpan().StartLinePosition.Line).ToList();
        Assert.Equal(2, unknown.Count);
        DiagnosticAssert.At(unknown[0], File, 18, 11);
        DiagnosticAssert.MessageContains(unknown[0], "'ref' is not a field of");
        DiagnosticAssert.At(unknown[1], File, 22, 13);
        DiagnosticAssert.MessageContains(unknown[1], "'insecure' is not a field of");
        var secret = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0015");
        DiagnosticAssert.At(secret, File, 20, 23);
        DiagnosticAssert.MessageContains(secret, "'Not_A_Name' is not a valid Secret name");
        var provider = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0010");
        DiagnosticAssert.At(provider, File, 21, 25);
        DiagnosticAssert.MessageContains(provider, "'aws'");
        DiagnosticAssert.MessageContains(provider, "default, amazon, azure, google, github");
    }

    [Fact]
    public void Service_call_compiles_to_an_api_call_with_its_service()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      method: POST
                      service:
                        url: "https://scanner.security.svc/check?ns={{ request.namespace }}"
                        headers:
                        - key: X-Api-Key
                          value: "{{ request.namespace }}-key"
                      data:
                      - key: images
                        value: "{{ images }}"
                      jmesPath: verdict
                      default: {allowed: true}
            """))));

        var call = Assert.IsType<ApiCallContextEntry>(Assert.Single(policy.Rules[0].Context));
        Assert.Null(call.UrlPath);
        Assert.Equal("POST", call.Method);
        Assert.NotNull(call.Service);
        Assert.Null(call.Service.CaBundle);
        Assert.Equal("X-Api-Key", Assert.Single(call.Service.Headers).Key);
        Assert.Equal("images", Assert.Single(call.Data).Key);
        Assert.NotNull(call.JmesPath);
        Assert.NotNull(call.Default);
    }

    /// <summary>A policy whose rule applies only when the service answers <c>{"enforce": true}</c> for the request's namespace.</summary>
    private static string ServicePolicy(Uri service, string caPem)
    {
        var ca = string.Join("\n", caPem.TrimEnd().Split('\n').Select(line => "                      " + line));
        return Policy($$$"""
                  - name: scan
                    apiCall:
                      service:
                        url: "{{{service}}}decide?namespace={{ request.namespace }}"
                        caBundle: |
            {{{ca}}}
                        headers:
                        - key: X-Team
                          value: "{{ request.namespace }}"
                      jmesPath: enforce
            """, """
                  preconditions:
                    all:
                    - key: "{{ scan }}"
                      operator: Equals
                      value: true
            """);
    }

    [Fact]
    public async Task Preconditions_read_the_answer_of_a_service_over_https()
    {
        await using var service = await PolicyCompiler.Tests.Shared.TestHttpsService.StartAsync();
        service.Answer = r => new PolicyCompiler.Tests.Shared.ServiceAnswer(200, r.PathAndQuery.EndsWith("=payments", StringComparison.Ordinal) ? """{"enforce":true}""" : """{"enforce":false}""");
        using var caller = new PolicyCompiler.Runtime.Services.ServiceCaller();
        var engine = new AdmissionEngine(
            Load(("policy.yaml", ServicePolicy(service.Address, service.CaPem))),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { ServiceCalls = caller });

        var payments = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);
        var web = await engine.ValidateAsync(Pod("web"), CancellationToken.None);

        Assert.False(payments.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/app:v1", payments.Status!.Message, StringComparison.Ordinal);
        Assert.True(web.Allowed, web.Status?.Message);
        Assert.Equal(["/decide?namespace=payments", "/decide?namespace=web"], service.Requests.Select(r => r.PathAndQuery).Order(StringComparer.Ordinal));
        Assert.All(service.Requests, r => Assert.Equal(r.PathAndQuery[(r.PathAndQuery.IndexOf('=') + 1)..], r.Headers["X-Team"]));
    }

    [Fact]
    public async Task A_data_key_written_with_variables_is_substituted_in_the_posted_body()
    {
        await using var service = await PolicyCompiler.Tests.Shared.TestHttpsService.StartAsync();
        service.Answer = r => new PolicyCompiler.Tests.Shared.ServiceAnswer(200, r.Body.Contains("\"payments\":", StringComparison.Ordinal) ? """{"enforce":true}""" : """{"enforce":false}""");
        var ca = string.Join("\n", service.CaPem.TrimEnd().Split('\n').Select(line => "                      " + line));
        var policies = Load(("policy.yaml", Policy($$$"""
                  - name: scan
                    apiCall:
                      method: POST
                      service:
                        url: "{{{service.Address}}}decide"
                        caBundle: |
            {{{ca}}}
                      data:
                      - key: "{{ request.namespace }}"
                        value: "{{ request.object.metadata.name }}"
                      - key: "team-{{ request.namespace }}-\\{{ literal }}"
                        value: 1
                      jmesPath: enforce
            """, """
                  preconditions:
                    all:
                    - key: "{{ scan }}"
                      operator: Equals
                      value: true
            """)));
        var call = Assert.IsType<ApiCallContextEntry>(Assert.Single(Assert.Single(policies).Rules[0].Context));
        Assert.All(call.Data, d => Assert.NotNull(d.KeyTemplate));
        using var caller = new PolicyCompiler.Runtime.Services.ServiceCaller();
        var engine = new AdmissionEngine(
            policies,
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { ServiceCalls = caller });

        var payments = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);
        var web = await engine.ValidateAsync(Pod("web"), CancellationToken.None);

        // The key is the request's namespace, so only the payments review makes the service ask for enforcement.
        Assert.False(payments.Allowed);
        Assert.True(web.Allowed, web.Status?.Message);
        var bodies = service.Requests.Select(r => r.Body).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(2, bodies.Length);
        Assert.Contains("\"payments\":", bodies[0], StringComparison.Ordinal);
        Assert.Contains("\"team-payments-{{ literal }}\":1", bodies[0], StringComparison.Ordinal);
        Assert.Contains("\"web\":", bodies[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_header_name_written_with_variables_is_substituted_in_the_call()
    {
        await using var service = await PolicyCompiler.Tests.Shared.TestHttpsService.StartAsync();
        service.Answer = r => new PolicyCompiler.Tests.Shared.ServiceAnswer(200, r.Headers.ContainsKey("X-Team-payments") ? """{"enforce":true}""" : """{"enforce":false}""");
        var ca = string.Join("\n", service.CaPem.TrimEnd().Split('\n').Select(line => "                      " + line));
        var policies = Load(("policy.yaml", Policy($$$"""
                  - name: scan
                    apiCall:
                      service:
                        url: "{{{service.Address}}}decide"
                        caBundle: |
            {{{ca}}}
                        headers:
                        - key: "X-Team-{{ request.namespace }}"
                          value: "yes"
                        - key: X-Literal
                          value: "{{ request.namespace }}"
                      jmesPath: enforce
            """, """
                  preconditions:
                    all:
                    - key: "{{ scan }}"
                      operator: Equals
                      value: true
            """)));
        var call = Assert.IsType<ApiCallContextEntry>(Assert.Single(Assert.Single(policies).Rules[0].Context));
        Assert.NotNull(call.Service!.Headers[0].KeyTemplate);
        Assert.Null(call.Service.Headers[1].KeyTemplate);
        using var caller = new PolicyCompiler.Runtime.Services.ServiceCaller();
        var engine = new AdmissionEngine(
            policies,
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { ServiceCalls = caller });

        var payments = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);
        var web = await engine.ValidateAsync(Pod("web"), CancellationToken.None);

        // The header's name carries the namespace, so only the payments review makes the service ask for enforcement.
        Assert.False(payments.Allowed);
        Assert.True(web.Allowed, web.Status?.Message);
        var sent = service.Requests.Select(r => (r.Headers.Keys.Single(k => k.StartsWith("X-Team-", StringComparison.OrdinalIgnoreCase)), r.Headers["X-Literal"])).Order().ToArray();
        Assert.Equal([("X-Team-payments", "payments"), ("X-Team-web", "web")], sent);
    }

    [Fact]
    public async Task A_header_name_whose_substitution_is_not_a_token_fails_the_entry()
    {
        var policies = Load(("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      service:
                        url: https://scanner.invalid/decide
                        headers:
                        - key: "X {{ request.namespace }}"
                          value: "yes"
                      jmesPath: enforce
            """, """
                  preconditions:
                    all:
                    - key: "{{ scan }}"
                      operator: Equals
                      value: true
            """)));
        using var caller = new PolicyCompiler.Runtime.Services.ServiceCaller();
        var engine = new AdmissionEngine(
            policies,
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { ServiceCalls = caller });

        var response = await engine.ValidateAsync(Pod("payments"), CancellationToken.None);

        // Not a build error (the name is known only at admission); the entry fails, so the rule errors under failurePolicy Fail.
        Assert.False(response.Allowed);
        // The message as Kyverno's YAML encoder folds it: a space becomes a line break and the continuation's indent.
        Assert.Contains("the header name \"X payments\" is not an HTTP header name", response.Status!.Message!.Replace("\n    ", " ", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void A_data_key_with_a_broken_variable_is_reported_at_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      method: POST
                      urlPath: /apis/authorization.k8s.io/v1/subjectaccessreviews
                      data:
                      - key: "{{ request.namespace[ }}"
                        value: x
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.At(diagnostic, File, 19, 41);
        DiagnosticAssert.MessageContains(diagnostic, "data[0].key");
    }

    [Fact]
    public void Global_reference_compiles_to_its_runtime_definition()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      name: "deployments-{{ request.namespace }}"
                      jmesPath: "[].metadata.name"
            """))));

        var entry = Assert.IsType<GlobalReferenceContextEntry>(Assert.Single(policy.Rules[0].Context));
        Assert.Equal("deployments", entry.Name);
        var admission = PolicyCompiler.Runtime.Conditions.JmesValue.ParseJson("""{"request":{"namespace":"team-a"}}""");
        Assert.Equal("\"deployments-team-a\"", entry.EntryName(admission, new PolicyCompiler.Runtime.Conditions.JmesContext()).ToJsonString());
        Assert.NotNull(entry.JmesPath);
    }

    [Fact]
    public async Task Global_reference_jmesPath_with_variables_reads_the_rule_context_over_the_entry_data()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      name: deployments
                      jmesPath: "[?metadata.namespace == '{{ request.namespace }}'].metadata.name"
            """))));
        var entry = Assert.IsType<GlobalReferenceContextEntry>(Assert.Single(policy.Rules[0].Context));
        Assert.Null(entry.JmesPath);
        Assert.NotNull(entry.JmesPathWithVariables);

        var global = new ListedGlobalContext("""[{"metadata":{"name":"web","namespace":"team-a"}},{"metadata":{"name":"db","namespace":"team-b"}}]""");
        var sources = new ContextSources(null, Global: global);
        var context = new PolicyCompiler.Runtime.Conditions.JmesContext();

        var teamA = await ContextLoader.LoadAsync(policy.Rules[0].Context, Admission(new { @namespace = "team-a" }), null, sources, context, CancellationToken.None);
        Assert.True(teamA.TryGetValue("deployments", out var names));
        Assert.Equal("""["web"]""", names.ToJsonString());

        // A variable that does not resolve fails the entry, as Kyverno's substitution of the jmesPath would.
        var missing = await Assert.ThrowsAsync<ContextDataException>(() => ContextLoader.LoadAsync(policy.Rules[0].Context, Admission(new { }), null, sources, context, CancellationToken.None));
        Assert.Contains("failed to substitute variables in context entry deployments jmesPath", missing.Message, StringComparison.Ordinal);

        static PolicyCompiler.Runtime.Conditions.JmesObject Admission(object request) =>
            new PolicyCompiler.Runtime.Conditions.JmesObject(1).Set("request", PolicyCompiler.Runtime.Conditions.JmesValue.ParseJson(JsonSerializer.Serialize(request)));
    }

    /// <summary>
    /// A stand-in for the GlobalContextEntry reader: every entry name and projection gives the same listed objects, and
    /// each request is recorded.
    /// </summary>
    private sealed class ListedGlobalContext(string json) : IGlobalContextSource
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string Entry, string? Projection)> Requests { get; } = new();

        public ValueTask<System.Text.Json.JsonElement> GetAsync(string entryName, string? projection, CancellationToken cancellationToken)
        {
            Requests.Enqueue((entryName, projection));
            return ValueTask.FromResult(System.Text.Json.JsonDocument.Parse(json).RootElement.Clone());
        }
    }

    [Fact]
    public void Global_reference_without_a_name_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      jmesPath: "[].metadata.name"
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.At(diagnostic, File, 16, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].globalReference' requires 'name'");
    }

    [Fact]
    public async Task Global_reference_to_a_projection_compiles_and_asks_for_that_projection_at_admission()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      name: deployments.names
            """));
        Assert.Empty(run.GeneratorDiagnostics);

        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      name: deployments.names
                      jmesPath: "[0]"
            """))));
        var global = new ListedGlobalContext("""["web","db"]""");

        var values = await ContextLoader.LoadAsync(policy.Rules[0].Context, Admission(new { }), null, new ContextSources(null, Global: global), new PolicyCompiler.Runtime.Conditions.JmesContext(), CancellationToken.None);

        Assert.Equal(("deployments", "names"), Assert.Single(global.Requests));
        Assert.Equal("\"web\"", values["deployments"].ToJsonString());

        static PolicyCompiler.Runtime.Conditions.JmesObject Admission(object request) =>
            new PolicyCompiler.Runtime.Conditions.JmesObject(1).Set("request", PolicyCompiler.Runtime.Conditions.JmesValue.ParseJson(JsonSerializer.Serialize(request)));
    }

    [Theory]
    [InlineData("deployments.names.extra", "Kyverno reads only 'deployments.names' (entry 'deployments', projection 'names') and ignores the rest")]
    [InlineData(".names", "the part before '.' names the GlobalContextEntry and is empty")]
    [InlineData("deployments.", "the projection after '.' is empty, which Kyverno reads as the whole entry; write 'deployments'")]
    public void Global_reference_name_kyverno_would_read_otherwise_than_written_is_a_build_error(string name, string reason)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy($"""
                  - name: deployments
                    globalReference:
                      name: "{name}"
            """));

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.At(diagnostic, File, 16, 17);
        DiagnosticAssert.MessageContains(diagnostic, $"'{name}' is not a valid global context reference: {reason}");
    }

    [Fact]
    public void Global_reference_beside_another_source_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: deployments
                    globalReference:
                      name: deployments
                    variable:
                      value: x
            """));

        var diagnostic = run.Single("PC0025");
        DiagnosticAssert.At(diagnostic, File, 14, 15);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0]' names variable and globalReference. Give exactly one of variable, configMap, apiCall or globalReference.");
    }

    [Fact]
    public void Service_and_url_path_together_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      urlPath: /api/v1/namespaces
                      service:
                        url: https://scanner.example.com/check
            """));

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.At(diagnostic, File, 17, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].apiCall.service' cannot be combined with 'urlPath': an apiCall reads either the API server (urlPath) or a service (service.url); remove one.");
    }

    [Fact]
    public void Api_call_without_url_path_or_service_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      jmesPath: items
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.At(diagnostic, File, 16, 11);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].apiCall' requires 'urlPath'. Add it, for example: urlPath: \"/api/v1/namespaces/{{ request.namespace }}/configmaps/keys\" (or service: {url: https://…} for a service outside the API server)");
    }

    [Theory]
    [InlineData("scanner.example.com/check", "it is not an absolute URL")]
    [InlineData("ftp://scanner.example.com/check", "the scheme 'ftp' is not http or https")]
    [InlineData("\"ftp://scanner/{{ request.namespace }}\"", "the scheme 'ftp' is not http or https")]
    [InlineData("https://user:secret@scanner.example.com/check", "credentials in the URL would be logged with it; send them in a header")]
    public void PC0027_service_url_that_cannot_be_called_is_a_build_error_at_the_value(string url, string problem)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy($$"""
                  - name: scan
                    apiCall:
                      service:
                        url: {{url}}
            """));

        var diagnostic = run.Single("PC0027");
        DiagnosticAssert.At(diagnostic, File, 17, 18);
        DiagnosticAssert.MessageContains(diagnostic, $"cannot be used as 'spec.rules[0].context[0].apiCall.service.url': {problem}. Write an absolute http:// or https:// URL");
    }

    [Fact]
    public void Service_url_with_a_variable_host_is_checked_at_admission()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      service:
                        url: "{{ request.object.metadata.annotations.scanner }}/check"
            """));

        Assert.Empty(run.GeneratorDiagnostics);
    }

    [Fact]
    public void Ca_bundle_that_is_not_pem_is_a_build_error_at_the_value()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      service:
                        url: https://scanner.example.com/check
                        caBundle: not a certificate
            """));

        var diagnostic = run.Single("PC0018");
        DiagnosticAssert.At(diagnostic, File, 18, 23);
        DiagnosticAssert.MessageContains(diagnostic, "The certificate in 'spec.rules[0].context[0].apiCall.service.caBundle' cannot be used");
    }

    [Fact]
    public void Header_name_that_is_not_a_token_is_a_build_error_at_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      service:
                        url: https://scanner.example.com/check
                        headers:
                        - key: "X Api: Key"
                          value: secret
            """));

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.At(diagnostic, File, 19, 20);
        DiagnosticAssert.MessageContains(diagnostic, "'X Api: Key' is not a valid HTTP header name: write a token (letters, digits and '-'), without spaces or ':'.");
    }

    [Fact]
    public void Header_without_a_value_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  - name: scan
                    apiCall:
                      service:
                        url: https://scanner.example.com/check
                        headers:
                        - key: X-Api-Key
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.At(diagnostic, File, 19, 15);
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].context[0].apiCall.service.headers[0]' requires 'value'");
    }

    [Fact]
    public void Variables_in_the_logs_of_keys_read_at_admission_compile_as_those_of_keyless_do()
    {
        // A Secret's key (like a KMS key or publicKeys with variables) is itself read at admission; its rekor/ctlog
        // variables are substituted first, through the same templated attestor as keyless, and never read as literal PEM.
        var yaml = """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: literal-fields
            spec:
              rules:
                - name: check
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["registry.invalid/*"]
                    attestors:
                    - entries:
                      - keyless:
                          subject: "alice@example.com"
                          issuer: "https://issuer.example.com"
                          roots: "{{ roots.data.pem }}"
                          additionalExtensions:
                            githubWorkflowRepository: "{{ request.namespace }}"
                          rekor:
                            url: "{{ rekor.data.url }}"
                          ctlog:
                            pubkey: "{{ ct.data.key }}"
                      - keys:
                          secret:
                            name: cosign
                            namespace: kyverno
                          rekor:
                            url: https://rekor.internal
                            pubkey: "{{ rekor.data.key }}"
                          ctlog:
                            tsaCertChain: "{{ tsa.data.chain }}"
            """;

        GeneratorHarness.Run("policy.yaml", yaml).AssertClean();

        var policy = Assert.Single(Load(("policy.yaml", yaml)));
        var entries = Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries;
        Assert.Equal(2, entries.Length);
        var keyless = Assert.IsType<TemplatedAttestorDefinition>(entries[0]);
        Assert.Equal(["roots", "additionalExtensions.githubWorkflowRepository", "rekor.url", "ctlog.pubkey"], keyless.Templates.Select(t => t.Field));
        var secret = Assert.IsType<TemplatedAttestorDefinition>(entries[1]);
        Assert.Equal(".attestors[0].entries[1].keys", secret.Path);
        Assert.Equal(["rekor.pubkey", "ctlog.tsaCertChain"], secret.Templates.Select(t => t.Field));
        Assert.Equal(["{{ rekor.data.key }}", "{{ tsa.data.chain }}"], secret.Templates.Select(t => t.Text));
        Assert.False(secret.ReadsRequest);
    }

    [Fact]
    public void Bad_variable_in_a_public_key_template_is_a_build_error_at_its_column()
    {
        var yaml = Policy("""
                  - name: keys
                    configMap:
                      name: keys
            """).Replace("""
                verifyDigest: true
        """, """
                verifyDigest: true
                attestors:
                - entries:
                  - keys:
                      publicKeys: "{{ keys.data.[ }}"
        """, StringComparison.Ordinal);

        var diagnostic = GeneratorHarness.Run("policy.yaml", yaml).Single("PC0023");

        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestors[0].entries[0].keys.publicKeys' has an invalid variable");
        DiagnosticAssert.At(diagnostic, File, 25, 43);
    }
}

/// <summary>
/// Variables in keyless identities and in certificates: compiled to attestors substituted per review from the rule's
/// context and the request, as <c>publicKeys</c> is; what cannot be substituted fails that attestor with its reason.
/// </summary>
public sealed class AttestorVariableTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string attestor) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: attestor-variables
        spec:
          rules:
            - name: check
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: identities
                configMap:
                  name: identities
                  namespace: kyverno
              verifyImages:
              - imageReferences: ["ghcr.io/*"]
                attestors:
                - entries:
                  - {{attestor}}
        """;

    private static TemplatedAttestorDefinition Attestor(string attestor)
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy(attestor))));
        var set = Assert.Single(Assert.Single(policy.Rules.First(r => r.Name == "check").VerifyImages).Attestors);
        return Assert.IsType<TemplatedAttestorDefinition>(Assert.Single(set.Entries));
    }

    private static AttestorDefinition Substitute(TemplatedAttestorDefinition attestor, string rootJson) =>
        attestor.Substitute(Runtime.Conditions.JmesValue.ParseJson(rootJson), new Runtime.Conditions.JmesContext());

    /// <summary>A certificate as Fulcio issues them: the identity in the SAN, the OIDC issuer in its extension.</summary>
    private static Runtime.Sigstore.FulcioCertificate Fulcio(string email, string issuer, string? workflowRepository = null)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=sigstore", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        san.AddEmailAddress(email);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509Extension(Runtime.Sigstore.FulcioCertificate.OidcIssuerV1, System.Text.Encoding.UTF8.GetBytes(issuer), false));
        if (workflowRepository is not null)
        {
            // Fulcio's v1 extension for the repository: the value's bytes, unwrapped.
            request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509Extension("1.3.6.1.4.1.57264.1.5", System.Text.Encoding.UTF8.GetBytes(workflowRepository), false));
        }

        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(10));
        return Runtime.Sigstore.FulcioCertificate.Read(certificate);
    }

    private static Runtime.Sigstore.KeylessIdentity Identity(AttestorDefinition attestor) =>
        Assert.IsType<Runtime.Sigstore.KeylessSigner>(Assert.IsType<SignatureAttestorDefinition>(attestor).Signer).Identity;

    [Fact]
    public void Keyless_subject_and_issuer_are_substituted_from_the_request_and_the_context()
    {
        var attestor = Attestor("""
            keyless:
                          subject: "{{ request.namespace }}@example.com"
                          issuer: "{{ identities.data.issuer }}"
            """);
        Assert.Equal(["subject", "issuer"], attestor.Templates.Select(t => t.Field));
        Assert.True(attestor.ReadsRequest);

        var identity = Identity(Substitute(attestor, """{"request":{"namespace":"team-a"},"identities":{"data":{"issuer":"https://accounts.example.com"}}}"""));

        Assert.Null(identity.Check(Fulcio("team-a@example.com", "https://accounts.example.com")));
        Assert.Equal("subject mismatch: expected team-a@example.com, got team-b@example.com", identity.Check(Fulcio("team-b@example.com", "https://accounts.example.com")));
        Assert.Equal("issuer mismatch: expected https://accounts.example.com, got https://other.example.com", identity.Check(Fulcio("team-a@example.com", "https://other.example.com")));
    }

    [Fact]
    public void Keyless_regexes_are_substituted_and_a_pattern_that_does_not_compile_fails_the_attestor()
    {
        var attestor = Attestor("""
            keyless:
                          subjectRegExp: "{{ identities.data.subjects }}"
                          issuer: https://accounts.example.com
            """);
        Assert.False(attestor.ReadsRequest);

        var identity = Identity(Substitute(attestor, """{"identities":{"data":{"subjects":"^team-(a|b)@example\\.com$"}}}"""));
        Assert.Null(identity.Check(Fulcio("team-b@example.com", "https://accounts.example.com")));
        Assert.StartsWith("subject mismatch", identity.Check(Fulcio("team-c@example.com", "https://accounts.example.com")), StringComparison.Ordinal);

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"identities":{"data":{"subjects":"team-(a"}}}"""));
        Assert.StartsWith("subjectRegExp {{ identities.data.subjects }} gave no usable attestor (", bad.Reason, StringComparison.Ordinal);
        Assert.Equal(".attestors[0].entries[0].keyless", bad.Path);
    }

    [Fact]
    public void A_keyless_variable_that_does_not_resolve_or_resolves_empty_fails_the_attestor()
    {
        var attestor = Attestor("""
            keyless:
                          subject: "{{ identities.data.subject }}"
                          issuer: https://accounts.example.com
            """);

        var missing = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"identities":{"data":{}}}"""));
        Assert.StartsWith("subject {{ identities.data.subject }}: ", missing.Reason, StringComparison.Ordinal);

        // An empty subject would no longer constrain the signer: refused, not read as "any subject".
        var empty = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"identities":{"data":{"subject":""}}}"""));
        Assert.Equal("subject {{ identities.data.subject }} is empty", empty.Reason);
    }

    [Fact]
    public void A_keyless_regex_with_variables_is_not_checked_at_build_time_but_a_literal_one_still_is()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
            keyless:
                          subjectRegExp: "{{ identities.data.subjects }}"
                          issuerRegExp: "(unclosed"
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0019"), "'(unclosed' is not a valid regular expression");
    }

    [Fact]
    public void Certificate_chain_from_the_context_is_parsed_at_admission_and_bad_text_fails_the_attestor()
    {
        var attestor = Attestor("""
            certificates:
                          certChain: "{{ identities.data.chain }}"
            """);
        Assert.Equal("certChain", Assert.Single(attestor.Templates).Field);

        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var root = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=root", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pem = root.ExportCertificatePem();
        var json = JsonSerializer.Serialize(new { identities = new { data = new { chain = pem } } });

        var signer = Assert.IsType<Runtime.Sigstore.CertificateSigner>(Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, json)).Signer);
        Assert.Null(signer.Certificate);
        Assert.Equal(root.Thumbprint, Assert.Single(signer.Chain).Thumbprint);
        Assert.False(signer.IgnoreSct);

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"identities":{"data":{"chain":"not a certificate"}}}"""));
        Assert.Equal("certChain {{ identities.data.chain }} gave no usable attestor (no PEM certificate found)", bad.Reason);
    }

    [Fact]
    public void Keyless_roots_from_the_context_are_parsed_at_admission_and_bad_text_fails_the_attestor()
    {
        var attestor = Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          roots: "{{ identities.data.roots }}"
            """);
        Assert.Equal("roots", Assert.Single(attestor.Templates).Field);
        Assert.False(attestor.ReadsRequest);

        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var first = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=first", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var second = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=second", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        var json = JsonSerializer.Serialize(new { identities = new { data = new { roots = first.ExportCertificatePem() + "\n" + second.ExportCertificatePem() } } });

        var signer = Assert.IsType<Runtime.Sigstore.KeylessSigner>(Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, json)).Signer);
        Assert.Equal([first.Thumbprint, second.Thumbprint], signer.Roots!.Select(c => c.Thumbprint));
        Assert.Null(signer.Identity.Check(Fulcio("alice@example.com", "https://accounts.example.com")));

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"identities":{"data":{"roots":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}}}"""));
        Assert.StartsWith("roots {{ identities.data.roots }} gave no usable attestor (", bad.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Additional_extension_values_are_substituted_beside_the_literal_ones()
    {
        var attestor = Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          additionalExtensions:
                            githubWorkflowRepository: "acme/{{ request.namespace }}"
                            githubWorkflowTrigger: push
            """);
        Assert.Equal("additionalExtensions.githubWorkflowRepository", Assert.Single(attestor.Templates).Field);
        Assert.True(attestor.ReadsRequest);

        var identity = Identity(Substitute(attestor, """{"request":{"namespace":"team-a"}}"""));

        // The literal githubWorkflowTrigger is still required: the certificate without it fails on that extension.
        Assert.Equal("extension mismatch: githubWorkflowTrigger is not present", identity.Check(Fulcio("alice@example.com", "https://accounts.example.com", "acme/team-a")));
        var onlySubstituted = Identity(Substitute(Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          additionalExtensions:
                            githubWorkflowRepository: "acme/{{ request.namespace }}"
            """), """{"request":{"namespace":"team-a"}}"""));
        Assert.Null(onlySubstituted.Check(Fulcio("alice@example.com", "https://accounts.example.com", "acme/team-a")));
        Assert.Equal("extension mismatch: expected acme/team-a for githubWorkflowRepository, got acme/team-b", onlySubstituted.Check(Fulcio("alice@example.com", "https://accounts.example.com", "acme/team-b")));

        var missing = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, """{"request":{}}"""));
        Assert.StartsWith("additionalExtensions.githubWorkflowRepository acme/{{ request.namespace }}", missing.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Literal_keyless_roots_are_still_checked_at_build_time()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          roots: "not a certificate"
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0018"), "keyless.roots");
    }

    [Fact]
    public void A_Notary_cert_from_the_context_may_hold_several_certificates_and_all_are_trusted()
    {
        // Kyverno joins a Notary attestor's cert and certChain into one trust store, substituted or literal alike.
        var policy = Policy("""
            certificates:
                          cert: "{{ identities.data.roots }}"
            """).Replace("- imageReferences: [\"ghcr.io/*\"]", "- type: Notary\n        imageReferences: [\"ghcr.io/*\"]", StringComparison.Ordinal);
        var compiled = Assert.Single(Load(("policy.yaml", policy)));
        var entry = Assert.Single(compiled.Rules.First(r => r.Name == "check").VerifyImages);
        Assert.Equal(SignatureFormat.Notary, entry.Format);
        var attestor = Assert.IsType<TemplatedAttestorDefinition>(Assert.Single(Assert.Single(entry.Attestors).Entries));

        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var first = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=first", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var second = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=second", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        var json = JsonSerializer.Serialize(new { identities = new { data = new { roots = first.ExportCertificatePem() + "\n" + second.ExportCertificatePem() } } });

        var signer = Assert.IsType<Runtime.Sigstore.CertificateSigner>(Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, json)).Signer);
        Assert.Equal([first.Thumbprint, second.Thumbprint], signer.TrustStore.Select(c => c.Thumbprint));
    }

    [Fact]
    public void Bad_variable_in_a_keyless_subject_is_a_build_error_at_its_column()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
            keyless:
                          subject: "{{ request.[ }}"
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless.subject' has an invalid variable");
    }
}

/// <summary>A fake ConfigMap store (by <c>namespace/name</c>) recording what was read; no API calls.</summary>
internal sealed class FakeContextData : Dictionary<string, string>, IContextDataSource
{
    public List<string> Reads { get; } = [];

    public ValueTask<JsonElement> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        Reads.Add(@namespace + "/" + name);
        return TryGetValue(@namespace + "/" + name, out var json)
            ? ValueTask.FromResult(JsonDocument.Parse(json).RootElement.Clone())
            : throw new ContextDataException($"configmap {@namespace}/{name} does not exist", isTransient: false);
    }

    public ValueTask<JsonElement> CallAsync(string method, string path, string? body, CancellationToken cancellationToken) =>
        throw new ContextDataException($"{path} does not exist", isTransient: false);
}

using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>spec.webhookConfiguration</c> (Kyverno 1.12+): its <c>failurePolicy</c> and <c>timeoutSeconds</c> win over the
/// older <c>spec.failurePolicy</c> and <c>spec.webhookTimeoutSeconds</c>, as Kyverno's Spec getters decide; its CEL
/// <c>matchConditions</c> are checked as the API server checks a webhook's (count, names, an expression that parses as
/// CEL and names only declared variables) and carried to the policy's own webhook. The CEL is not evaluated here.
/// </summary>
public sealed class WebhookConfigurationTests
{
    private const string Name = "policy.yaml";
    private const string File = GeneratorHarness.PolicyDirectory + Name;

    private static string Policy(string specLines) => $"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: check-image
        spec:
        {specLines}
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["ghcr.io/kyverno/*"]
                required: false
                mutateDigest: false
                verifyDigest: false
        """;

    [Fact]
    public void WebhookConfigurationWinsOverTheSpecLevelFields()
    {
        var policy = Assert.Single(Load((Name, Policy("""
              failurePolicy: Fail
              webhookTimeoutSeconds: 5
              webhookConfiguration:
                failurePolicy: Ignore
                timeoutSeconds: 20
            """))));

        Assert.Equal(FailurePolicy.Ignore, policy.FailurePolicy);
        Assert.Equal(20, policy.WebhookTimeoutSeconds);
    }

    [Fact]
    public void SpecLevelFieldsStandWhereWebhookConfigurationIsSilent()
    {
        var policy = Assert.Single(Load((Name, Policy("""
              failurePolicy: Ignore
              webhookTimeoutSeconds: 7
              webhookConfiguration: {}
            """))));

        Assert.Equal(FailurePolicy.Ignore, policy.FailurePolicy);
        Assert.Equal(7, policy.WebhookTimeoutSeconds);
    }

    [Fact]
    public void WebhookConfigurationAloneSetsBoth()
    {
        var policy = Assert.Single(Load((Name, Policy("""
              webhookConfiguration:
                failurePolicy: Ignore
                timeoutSeconds: 3
            """))));

        Assert.Equal(FailurePolicy.Ignore, policy.FailurePolicy);
        Assert.Equal(3, policy.WebhookTimeoutSeconds);
    }

    [Fact]
    public void PC0011_webhookConfiguration_timeoutSeconds_out_of_range()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                timeoutSeconds: 45
            """));

        var diagnostic = run.Single("PC0011");
        DiagnosticAssert.MessageContains(diagnostic, "webhookConfiguration.timeoutSeconds is 45; the Kubernetes API server accepts 1 to 30 seconds");
        DiagnosticAssert.At(diagnostic, File, 7, 21);
    }

    [Fact]
    public void PC0010_webhookConfiguration_failurePolicy_outside_the_enum()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                failurePolicy: ignore
            """));

        var diagnostic = run.Single("PC0010");
        DiagnosticAssert.MessageContains(diagnostic, "webhookConfiguration.failurePolicy");
        DiagnosticAssert.At(diagnostic, File, 7, 20);
    }

    [Fact]
    public void PC0002_unknown_field_in_webhookConfiguration()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                timeout: 5
            """));

        var diagnostic = run.Single("PC0002");
        DiagnosticAssert.MessageContains(diagnostic, "timeout");
        DiagnosticAssert.At(diagnostic, File, 7, 5);
    }

    [Fact]
    public void MatchConditionsAreCompiledAndGiveThePolicyAWebhookOfItsOwn()
    {
        var policy = Assert.Single(Load((Name, Policy("""
              webhookConfiguration:
                failurePolicy: Ignore
                matchConditions:
                - name: not-kube-system
                  expression: "request.namespace != 'kube-system'"
                - name: example.com/Only_Labelled.Pods
                  expression: |
                    has(object.metadata.labels) &&
                    object.metadata.labels["team"] == "a\\b"
            """))));

        Assert.True(policy.HasOwnWebhook);
        Assert.Equal("check-image", policy.WebhookPathSegment);
        Assert.Equal(FailurePolicy.Ignore, policy.FailurePolicy);
        Assert.Collection(
            policy.MatchConditions,
            c =>
            {
                Assert.Equal("not-kube-system", c.Name);
                Assert.Equal("request.namespace != 'kube-system'", c.Expression);
            },
            c =>
            {
                Assert.Equal("example.com/Only_Labelled.Pods", c.Name);
                Assert.Equal("has(object.metadata.labels) &&\nobject.metadata.labels[\"team\"] == \"a\\\\b\"\n", c.Expression);
            });
    }

    [Fact]
    public void ANamespacedPolicysWebhookPathNamesItsNamespace()
    {
        var policy = Assert.Single(Load((Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-dry-run
                  expression: "!request.dryRun"
            """).Replace("kind: ClusterPolicy", "kind: Policy", StringComparison.Ordinal).Replace("  name: check-image\n", "  name: check-image\n  namespace: team-a\n", StringComparison.Ordinal))));

        Assert.True(policy.HasOwnWebhook);
        Assert.Equal("team-a/check-image", policy.WebhookPathSegment);
    }

    [Fact]
    public void PoliciesWithoutMatchConditionsStayOnTheSharedWebhook()
    {
        var policies = Load(
            (Name, Policy("""
                  webhookConfiguration:
                    matchConditions: []
                """)),
            ("plain.yaml", Policy(string.Empty).Replace("name: check-image\n", "name: plain\n", StringComparison.Ordinal)));

        Assert.Equal(2, policies.Length);
        Assert.All(policies, p => Assert.False(p.HasOwnWebhook));
        Assert.All(policies, p => Assert.Empty(p.MatchConditions));
    }

    [Fact]
    public void PC0004_matchCondition_without_a_name()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - expression: "true"
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "A webhookConfiguration.matchConditions entry requires 'name'");
        DiagnosticAssert.At(diagnostic, File, 8, 7);
    }

    [Fact]
    public void PC0004_matchCondition_with_an_empty_expression()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: "  "
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "requires 'expression'");
        DiagnosticAssert.MessageContains(diagnostic, "CEL, evaluated by the API server");
        DiagnosticAssert.At(diagnostic, File, 9, 19);
    }

    [Fact]
    public void PC0004_matchCondition_without_an_expression()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "requires 'expression'");
        DiagnosticAssert.At(diagnostic, File, 8, 7);
    }

    [Theory]
    [InlineData("not kube-system", "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit")]
    [InlineData("-leading", "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit")]
    [InlineData("Example.com/name", "the prefix 'Example.com' is not a DNS subdomain")]
    [InlineData("a..b/name", "the prefix 'a..b' is not a DNS subdomain")]
    [InlineData("/name", "the prefix before '/' is empty")]
    [InlineData("a/b/c", "at most one '/'")]
    [InlineData("example.com/", "the name must have 1 to 63 characters")]
    [InlineData("n234567890123456789012345678901234567890123456789012345678901234", "the name must have 1 to 63 characters")]
    public void PC0015_matchCondition_name_is_not_a_qualified_name(string name, string reason)
    {
        var run = GeneratorHarness.Run(Name, Policy($"""
              webhookConfiguration:
                matchConditions:
                - name: "{name}"
                  expression: "true"
            """));

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, $"'{name}' is not a valid match condition name");
        DiagnosticAssert.MessageContains(diagnostic, reason);
        DiagnosticAssert.At(diagnostic, File, 8, 13);
    }

    [Fact]
    public void A63CharacterNameWithAPrefixIsAccepted()
    {
        var name = "policies.example.com/" + new string('n', 63);
        var policy = Assert.Single(Load((Name, Policy($"""
              webhookConfiguration:
                matchConditions:
                - name: "{name}"
                  expression: "true"
            """))));

        Assert.Equal(name, Assert.Single(policy.MatchConditions).Name);
    }

    [Fact]
    public void PC0028_two_matchConditions_share_a_name()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: "request.namespace != 'kube-system'"
                - name: not-kube-system
                  expression: "request.namespace != 'kube-public'"
            """));

        var diagnostic = run.Single("PC0028");
        DiagnosticAssert.MessageContains(diagnostic, "match condition name 'not-kube-system' is used twice; the Kubernetes API server refuses such a webhook configuration");
        DiagnosticAssert.At(diagnostic, File, 10, 13);
    }

    [Fact]
    public void PC0028_more_than_64_matchConditions()
    {
        var conditions = string.Concat(Enumerable.Range(0, 65).Select(i => $"\n    - name: c{i}\n      expression: \"true\""));
        var run = GeneratorHarness.Run(Name, Policy("  webhookConfiguration:\n    matchConditions:" + conditions));

        var diagnostic = run.Single("PC0028");
        DiagnosticAssert.MessageContains(diagnostic, "webhookConfiguration.matchConditions has 65 entries, more than 64");
        DiagnosticAssert.At(diagnostic, File, 7, 5);
    }

    [Fact]
    public void Exactly64MatchConditionsAreAccepted()
    {
        var conditions = string.Concat(Enumerable.Range(0, 64).Select(i => $"\n    - name: c{i}\n      expression: \"true\""));
        var policy = Assert.Single(Load((Name, Policy("  webhookConfiguration:\n    matchConditions:" + conditions))));

        Assert.Equal(64, policy.MatchConditions.Length);
    }

    /// <summary>A match condition whose expression is a literal block: line k of the CEL is line 10 + k of the file, from column 9.</summary>
    private static string BlockCondition(string expression) => Policy($"""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: |
            {string.Join("\n", expression.Split('\n').Select(l => "        " + l))}
            """);

    [Theory]
    [InlineData("request.namespace = 'kube-system'", 10, 27, "unexpected character '=' (equality is '==')")]
    [InlineData("request.namespace == 'kube-system", 10, 30, "the string has no closing '")]
    [InlineData("object.metadata.name.matches('\\d+')", 10, 39, "'\\d' is not a CEL escape sequence")]
    [InlineData("has(object.spec.replicas", 10, 33, "expected ',' or ')' in the argument list, found the end of the expression")]
    [InlineData("request.dryRun &&\n  || object.x", 11, 11, "expected a value, a name, '(', '[' or '{', found '||'")]
    [InlineData("request.dryRun request.uid", 10, 24, "expected an operator or the end of the expression, found 'request'")]
    [InlineData("object.spec.replicas > 1 &&\nlet == 2", 11, 9, "'let' is a reserved word in CEL")]
    [InlineData("object.spec.replicas < 9223372036854775808", 10, 32, "9223372036854775808 does not fit in a 64-bit int")]
    [InlineData("has(object)", 10, 13, "has() takes a field selection")]
    [InlineData("object.spec.containers.all(c.name, true)", 10, 36, "the first argument of all() names the element variable")]
    [InlineData("namespaceObject.metadata.name != 'kube-system'", 10, 9, "undeclared reference to 'namespaceObject'")]
    public void PC0028_matchCondition_expression_is_not_valid_CEL(string expression, int line, int column, string message)
    {
        var run = GeneratorHarness.Run(Name, BlockCondition(expression));

        var diagnostic = run.Single("PC0028");
        DiagnosticAssert.MessageContains(diagnostic, $"match condition 'not-kube-system': {message}");
        DiagnosticAssert.MessageContains(diagnostic, "the Kubernetes API server refuses such a webhook configuration");
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Theory]
    [InlineData("\"request.namespace == 'kube-system' && !request.dryRun &&& true\"", 76)]
    [InlineData("request.namespace == 'kube-system' && !request.dryRun &&& true", 75)]
    public void PC0028_points_inside_a_quoted_or_plain_expression(string scalar, int column)
    {
        var run = GeneratorHarness.Run(Name, Policy($"""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: {scalar}
            """));

        var diagnostic = run.Single("PC0028");
        DiagnosticAssert.MessageContains(diagnostic, "unexpected character '&' (logical and is '&&')");
        DiagnosticAssert.At(diagnostic, File, 9, column);
    }

    [Fact]
    public void PC0028_a_quoted_expression_with_YAML_escapes_is_reported_at_the_expression()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: "request.namespace == \"kube-system\" && params.x"
            """));

        var diagnostic = run.Single("PC0028");
        DiagnosticAssert.MessageContains(diagnostic, "undeclared reference to 'params'");
        DiagnosticAssert.At(diagnostic, File, 9, 19);
    }

    [Fact]
    public void DocumentedMatchConditionsCompile()
    {
        // From the Kubernetes documentation of admission webhook matchConditions and Kyverno's webhookConfiguration page.
        var policy = Assert.Single(Load((Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: exclude-leases
                  expression: '!(request.resource.group == "coordination.k8s.io" && request.resource.resource == "leases")'
                - name: exclude-kubelet-requests
                  expression: '!("system:nodes" in request.userInfo.groups)'
                - name: rbac
                  expression: "request.resource.group != 'rbac.authorization.k8s.io'"
                - name: breakglass
                  expression: "!authorizer.group('admissionregistration.k8s.io').resource('validatingwebhookconfigurations').name('my-webhook.example.com').check('breakglass').allowed()"
                - name: labelled
                  expression: |
                    object.metadata.?labels[?'app'].orValue('') != 'skip' && // optional syntax
                    has(object.metadata.labels) && "label" in object.metadata.labels
            """))));

        Assert.Equal(5, policy.MatchConditions.Length);
    }

    [Fact]
    public void PC0002_unknown_field_in_a_matchCondition()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: "true"
                  message: "not in kube-system"
            """));

        var diagnostic = run.Single("PC0002");
        DiagnosticAssert.MessageContains(diagnostic, "message");
        DiagnosticAssert.At(diagnostic, File, 10, 7);
    }

    [Fact]
    public void PC0003_matchConditions_is_not_a_list()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                  name: not-kube-system
                  expression: "true"
            """));

        var diagnostic = run.Single("PC0003");
        DiagnosticAssert.MessageContains(diagnostic, "matchConditions");
        DiagnosticAssert.At(diagnostic, File, 8, 7);
    }

    /// <summary>
    /// A policy that pins digests (<c>verifyDigest</c>) over an image without one: the validating pass denies it without
    /// a registry, naming the policy, so the denial tells which policies a path evaluated.
    /// </summary>
    private static string DigestPolicy(string name, string webhookConfiguration) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {{name}}
        spec:
          validationFailureAction: Enforce
        {{webhookConfiguration}}
          rules:
            - name: pin
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["registry.invalid/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    [Fact]
    public async Task TheSharedPathSkipsAPolicyWithItsOwnWebhookAndItsOwnPathRunsOnlyIt()
    {
        var policies = Load(
            ("shared.yaml", DigestPolicy("shared-policy", string.Empty)),
            ("conditioned.yaml", DigestPolicy("conditioned-policy", """
                  webhookConfiguration:
                    matchConditions:
                    - name: not-kube-system
                      expression: "request.namespace != 'kube-system'"
                """)));
        var conditioned = Assert.Single(policies, p => p.HasOwnWebhook);
        var engine = new AdmissionEngine(policies, new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));
        var pod = new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000028",
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
            Namespace = "team-a",
            Name = "app",
            Operation = "CREATE",
            Object = JsonDocument.Parse("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""").RootElement,
        };

        var shared = await engine.ValidateAsync(pod, WebhookScope.Shared, CancellationToken.None);
        var own = await engine.ValidateAsync(pod, WebhookScope.Of(conditioned), CancellationToken.None);
        var all = await engine.ValidateAsync(pod, CancellationToken.None);
        var check = await engine.DecideWithOutcomesAsync(pod, mutate: false, CancellationToken.None);

        Assert.False(shared.Allowed);
        Assert.Contains("shared-policy:", shared.Status!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("conditioned-policy", shared.Status.Message, StringComparison.Ordinal);

        Assert.False(own.Allowed);
        Assert.Contains("conditioned-policy:", own.Status!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("shared-policy", own.Status.Message, StringComparison.Ordinal);

        // Where no API server evaluates the conditions (policy-compiler check), every policy judges.
        Assert.Contains("shared-policy:", all.Status!.Message, StringComparison.Ordinal);
        Assert.Contains("conditioned-policy:", all.Status.Message, StringComparison.Ordinal);
        Assert.Contains(check.Outcomes, o => o.Policy == "conditioned-policy" && o.Status == RuleOutcomeStatus.Fail);
    }

    [Fact]
    public async Task APolicysOwnPathAdmitsWhatItsPolicyDoesNotCover()
    {
        // The API server only sends what the webhook's rules register; whatever else arrives is not this policy's.
        var policies = Load(
            ("shared.yaml", DigestPolicy("shared-policy", string.Empty)),
            ("conditioned.yaml", DigestPolicy("conditioned-policy", """
                  webhookConfiguration:
                    matchConditions:
                    - name: always
                      expression: "true"
                """).Replace("registry.invalid/*", "registry.invalid/other/*", StringComparison.Ordinal)));
        var engine = new AdmissionEngine(policies, new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));
        var pod = new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000029",
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
            Namespace = "team-a",
            Name = "app",
            Operation = "CREATE",
            Object = JsonDocument.Parse("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""").RootElement,
        };

        var own = await engine.ValidateAsync(pod, WebhookScope.Of(Assert.Single(policies, p => p.HasOwnWebhook)), CancellationToken.None);
        var shared = await engine.ValidateAsync(pod, WebhookScope.Shared, CancellationToken.None);

        Assert.True(own.Allowed, own.Status?.Message);
        Assert.False(shared.Allowed);
    }
}

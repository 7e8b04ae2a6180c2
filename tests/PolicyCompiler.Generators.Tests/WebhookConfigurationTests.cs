using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>spec.webhookConfiguration</c> (Kyverno 1.12+): its <c>failurePolicy</c> and <c>timeoutSeconds</c> win over the
/// older <c>spec.failurePolicy</c> and <c>spec.webhookTimeoutSeconds</c>, as Kyverno's Spec getters decide; its CEL
/// <c>matchConditions</c> are not compiled.
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
    public void PC0099_matchConditions_are_not_compiled()
    {
        var run = GeneratorHarness.Run(Name, Policy("""
              webhookConfiguration:
                matchConditions:
                - name: not-kube-system
                  expression: "request.namespace != 'kube-system'"
            """));

        var diagnostic = run.Single("PC0099");
        DiagnosticAssert.MessageContains(diagnostic, "write them as preconditions");
        DiagnosticAssert.At(diagnostic, File, 7, 5);
    }
}

using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>imageExtractors[].jmesPath</c>: compiled at build time, applied to every extracted value at admission (e.g. to
/// strip a <c>docker://</c> prefix). The policies pin digests without verifying signatures, so the validating pass
/// decides without a registry and its message shows the reference the rule saw.
/// </summary>
public sealed class ImageExtractorJmesPathTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string jmesPath, string mutateDigest = "false") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pipeline-images
        spec:
          validationFailureAction: Enforce
          rules:
          - name: pinned-steps
            match:
              any:
              - resources:
                  kinds: [tekton.dev/v1/TaskRun]
            imageExtractors:
              TaskRun:
                - path: /spec/taskSpec/steps/*
                  key: name
                  jmesPath: "{{jmesPath}}"
            verifyImages:
            - imageReferences: ["*"]
              mutateDigest: {{mutateDigest}}
              verifyDigest: true
        """;

    private static async Task<AdmissionResponse> ValidateTaskRun(string yaml, string stepImage)
    {
        var engine = new AdmissionEngine(Load(("policy.yaml", yaml)), new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));
        var request = new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000003",
            Kind = new GroupVersionKind { Group = "tekton.dev", Version = "v1", Kind = "TaskRun" },
            Namespace = "ci",
            Name = "build",
            Operation = "CREATE",
            Object = JsonDocument.Parse(
                """{"apiVersion":"tekton.dev/v1","kind":"TaskRun","metadata":{"name":"build"},"spec":{"taskSpec":{"steps":[{"name":"compile","image":"""
                + JsonSerializer.Serialize(stepImage) + "}]}}}").RootElement,
        };
        return await engine.ValidateAsync(request, CancellationToken.None);
    }

    [Fact]
    public async Task JmesPath_strips_the_prefix_before_the_reference_is_judged()
    {
        var yaml = Policy("trim_prefix(@, 'docker://')");

        var tagged = await ValidateTaskRun(yaml, "docker://registry.invalid/org/builder:v1");
        var pinned = await ValidateTaskRun(yaml, "docker://registry.invalid/org/builder@sha256:" + new string('a', 64));

        Assert.False(tagged.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/builder:v1", tagged.Status!.Message, StringComparison.Ordinal);
        Assert.True(pinned.Allowed);
    }

    [Fact]
    public async Task Without_jmesPath_the_prefixed_value_is_not_an_image_reference()
    {
        var yaml = Policy("trim_prefix(@, 'docker://')").Replace("\n          jmesPath: \"trim_prefix(@, 'docker://')\"", string.Empty, StringComparison.Ordinal);
        Assert.DoesNotContain("jmesPath", yaml, StringComparison.Ordinal);

        var response = await ValidateTaskRun(yaml, "docker://registry.invalid/org/builder@sha256:" + new string('a', 64));

        Assert.False(response.Allowed);
        Assert.Contains("invalid image reference docker://", response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JmesPath_that_gives_no_string_refuses_the_image()
    {
        var response = await ValidateTaskRun(Policy("length(@)"), "registry.invalid/org/builder@sha256:" + new string('a', 64));

        Assert.False(response.Allowed);
        Assert.Contains("the extractor's jmesPath gave number, not a string", response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_compiled_extractor_carries_its_method()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("trim_prefix(@, 'docker://')"))));

        var extractor = Assert.Single(policy.Rules[0].ImageExtractors);
        Assert.NotNull(extractor.JmesPath);
        Assert.Equal("registry.invalid/app:v1", extractor.JmesPath(Runtime.Conditions.JmesValue.From("docker://registry.invalid/app:v1"), Runtime.Conditions.JmesContext.Default).GetString());
    }

    [Fact]
    public void PC0023_invalid_jmesPath_points_inside_the_string()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("trim_prefix(@, 'docker://'"));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "'imageExtractors.TaskRun.jmesPath' has an invalid variable:");
        // The call is not closed: the diagnostic points at the end of the expression.
        DiagnosticAssert.At(diagnostic, File, 17, 48);
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void PC0024_jmesPath_with_digest_mutation()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("trim_prefix(@, 'docker://')", mutateDigest: "true"));

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, "'jmesPath' cannot be combined with 'mutateDigest'");
        DiagnosticAssert.At(diagnostic, File, 17, 21);
    }
}

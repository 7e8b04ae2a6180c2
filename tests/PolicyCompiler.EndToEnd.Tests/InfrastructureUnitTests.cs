using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>The pure helpers of the infrastructure: patch application and policy rendering.</summary>
public sealed class InfrastructureUnitTests
{
    [Fact]
    public void JsonPatchAppliesTheOperationsAWebhookWrites()
    {
        var pod = new TestPod("ns", "p", ["a:1", "b:2"]).ToJson();
        var patch = JsonNode.Parse("""
            [
              {"op":"replace","path":"/spec/containers/1/image","value":"b:2@sha256:00"},
              {"op":"add","path":"/metadata/annotations","value":{}},
              {"op":"add","path":"/metadata/annotations/kyverno.io~1verify-images","value":"{}"},
              {"op":"remove","path":"/metadata/labels"}
            ]
            """)!.AsArray();

        var patched = JsonPatch.Apply(pod, patch);

        Assert.Equal("a:1", patched["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        Assert.Equal("b:2@sha256:00", patched["spec"]!["containers"]![1]!["image"]!.GetValue<string>());
        Assert.Equal("{}", patched["metadata"]!["annotations"]!["kyverno.io/verify-images"]!.GetValue<string>());
        Assert.Null(patched["metadata"]!["labels"]);
        Assert.Equal("b:2", pod["spec"]!["containers"]![1]!["image"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""[{"op":"replace","path":"/spec/containers/5/image","value":"x"}]""")]
    [InlineData("""[{"op":"add","path":"/metadata/annotations/a~1b","value":"x"}]""")]
    [InlineData("""[{"op":"move","from":"/a","path":"/b"}]""")]
    public void JsonPatchRefusesWhatTheApiServerWouldRefuse(string patch)
    {
        var pod = new TestPod("ns", "p", "a:1").ToJson();

        Assert.Throws<InvalidOperationException>(() => JsonPatch.Apply(pod, JsonNode.Parse(patch)!.AsArray()));
    }

    [Fact]
    public void PolicyTemplateHasTheShapeOfKyvernosFirstSample()
    {
        using var signer = CosignSigner.Generate();

        var yaml = PolicyTemplate.CheckImage("check-image", "check-image", ["127.0.0.1:*/e2e/signed*"], signer.PublicKeyPem);

        var lines = yaml.Split('\n');
        Assert.Equal("kind: ClusterPolicy", lines[1]);
        Assert.Contains("  validationFailureAction: Enforce", lines);
        Assert.Contains("  webhookTimeoutSeconds: 30", lines);
        Assert.Contains("              - Pod", lines);
        Assert.Contains("        - \"127.0.0.1:*/e2e/signed*\"", lines);
        Assert.Contains("        - count: 1", lines);
        Assert.Contains("              publicKeys: |-", lines);
        Assert.Contains("                -----BEGIN PUBLIC KEY-----", lines);
        Assert.Contains("                -----END PUBLIC KEY-----", lines);
        // Every key line sits inside the block scalar.
        var keyStart = Array.IndexOf(lines, "              publicKeys: |-") + 1;
        Assert.All(lines[keyStart..].Where(l => l.Length > 0), l => Assert.StartsWith(new string(' ', 16), l, StringComparison.Ordinal));
    }
}

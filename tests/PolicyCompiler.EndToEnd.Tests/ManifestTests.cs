using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>policy-compiler manifests</c>: the published binary describes its own deployment, with webhook rules derived from
/// the policies compiled into it (here the end-to-end policies: Pods and, through auto-generation, their controllers).
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ManifestTests(WebhookFixture fixture)
{
    private async Task<List<YamlMappingNode>> RenderAsync(params string[] arguments)
    {
        var result = (await ProcessRunner.RunAsync(fixture.Published.Executable, ["manifests", .. arguments], TimeSpan.FromSeconds(30))).EnsureSuccess();
        // The captured log prefixes each line with its stream ("out| ", "err| "); the manifests are standard output.
        var manifests = string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("out| ", StringComparison.Ordinal)).Select(l => l["out| ".Length..]));
        var stream = new YamlStream();
        stream.Load(new StringReader(manifests));
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    private static string Text(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        }

        return ((YamlScalarNode)node).Value!;
    }

    [Fact]
    public async Task ManifestsDeployTheBinaryWithTwoReplicasBehindAServiceAndBudget()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e", "--image", "registry.example/policy-compiler:e2e");

        Assert.Equal(
            ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment", "PodDisruptionBudget", "Issuer", "Certificate", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"],
            documents.Select(d => Text(d, "kind")));
        var deployment = documents.Single(d => Text(d, "kind") == "Deployment");
        Assert.Equal("2", Text(deployment, "spec", "replicas"));
        Assert.Equal("pc-e2e", Text(deployment, "metadata", "namespace"));
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)deployment["spec"])["template"])["spec"])["containers"])[0];
        Assert.Equal("registry.example/policy-compiler:e2e", Text(container, "image"));
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
    }

    [Fact]
    public async Task WebhookRulesCoverExactlyTheCompiledKindsAndSkipTheOwnNamespace()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e");

        foreach (var kind in new[] { "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration" })
        {
            var configuration = documents.Single(d => Text(d, "kind") == kind);
            var webhook = (YamlMappingNode)Assert.Single(((YamlSequenceNode)configuration["webhooks"]).Children);
            Assert.Equal("Fail", Text(webhook, "failurePolicy"));
            Assert.Equal("30", Text(webhook, "timeoutSeconds"));
            Assert.Equal(kind.StartsWith("Mutating", StringComparison.Ordinal) ? "/mutate" : "/validate", Text(webhook, "clientConfig", "service", "path"));
            var selector = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)webhook["namespaceSelector"])["matchExpressions"])[0];
            Assert.Equal("NotIn", Text(selector, "operator"));
            Assert.Equal("pc-e2e", ((YamlScalarNode)((YamlSequenceNode)selector["values"])[0]).Value);

            var resources = ((YamlSequenceNode)webhook["rules"]).Children.Cast<YamlMappingNode>()
                .SelectMany(rule => ((YamlSequenceNode)rule["resources"]).Children.Select(r => ((YamlScalarNode)r).Value!))
                .Order(StringComparer.Ordinal);
            Assert.Equal(["cronjobs", "daemonsets", "deployments", "jobs", "pods", "replicasets", "replicationcontrollers", "statefulsets"], resources);
        }
    }

    [Fact]
    public async Task AnUnknownOptionIsRefusedWithAReason()
    {
        var result = await ProcessRunner.RunAsync(fixture.Published.Executable, ["manifests", "--replicas", "zero"], TimeSpan.FromSeconds(30));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--replicas (a positive number)", result.Output, StringComparison.Ordinal);
    }
}

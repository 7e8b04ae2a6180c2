using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>namespaceSelector</c> and <c>subjects</c> through the published webhook. The namespace labels come from the
/// host's <c>Kubernetes:NamespaceLabels</c> configuration (there is no API server in the test environment), which is
/// the same source the <c>check</c> command and clusters without API access use; the lookup and caching against a real
/// API server (<c>KubernetesNamespaceLabels</c>) is not exercised here.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class NamespaceSelectorAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-production-namespaces";
    public const string ImagePattern = "127.0.0.1:*/e2e/nsel-*";

    /// <summary>The webhook's arguments: prod-a is production, dev-a is not; other namespaces are unknown.</summary>
    public static IReadOnlyList<string> HostArguments { get; } =
    [
        "--Kubernetes:NamespaceLabels:prod-a:environment=production",
        "--Kubernetes:NamespaceLabels:dev-a:environment=dev",
    ];

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
            - name: signed-in-production
              match:
                any:
                - resources:
                    kinds: [Pod]
                    namespaceSelector:
                      matchLabels:
                        environment: production
              exclude:
                any:
                - subjects:
                  - kind: Group
                    name: "break-glass:*"
              verifyImages:
              - imageReferences: ["{ImagePattern}"]
                attestors:
                - entries:
                  - keys:
                      rekor: {"{"}ignoreTlog: true{"}"}
                      publicKeys: |-
        {string.Join("\n", publicKeyPem.Trim().Split('\n').Select(l => "                  " + l))}
        """;

    private async Task<AdmissionResult> Review(string ns, string? group = null)
    {
        var review = AdmissionClient.Review(new TestPod(ns, "nsel", fixture.NamespaceSelectorImage.TagReference).ToJson());
        if (group is not null)
        {
            review["request"]!["userInfo"] = new JsonObject { ["username"] = "oncall@example.com", ["groups"] = new JsonArray("system:authenticated", group) };
        }

        return await fixture.Admission.ReviewAsync("/mutate", review);
    }

    [Fact]
    public async Task UnsignedImageIsDeniedInAProductionNamespace()
    {
        var result = await Review("prod-a");

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"{PolicyName}:\n  signed-in-production: ", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signed-in-production: 'image verification failed", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SameImageIsAllowedInANamespaceTheSelectorDoesNotSelect()
    {
        var result = await Review("dev-a");

        Assert.True(result.Allowed == true, result.Describe());
    }

    [Fact]
    public async Task ExcludedGroupIsLetThroughInProduction()
    {
        var result = await Review("prod-a", group: "break-glass:sre");

        Assert.True(result.Allowed == true, result.Describe());
    }

    [Fact]
    public async Task UnknownNamespaceFailsClosed()
    {
        var result = await Review("nowhere");

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("failed to read the labels of namespace nowhere", result.MessageText, StringComparison.Ordinal);
    }
}

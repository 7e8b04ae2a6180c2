using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// A rule whose preconditions read Kyverno's global context (<c>globalReference</c>): the webhook reads the
/// GlobalContextEntry <c>enforced-teams</c> from its <c>Kubernetes:ApiServer</c> (a <see cref="FakeKubernetesApiServer"/>,
/// there is no cluster here), lists the ConfigMaps it names, and enforces the signature check only in the namespaces
/// they list, read twice: through the entry's projection <c>teams</c> (<c>enforced-teams.teams</c>) and through a
/// rule <c>jmesPath</c> over the whole entry. The image is real and unsigned, in the real registry.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class GlobalContextAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-global-context-teams";
    public const string EntryPath = "/apis/kyverno.io/v2alpha1/globalcontextentries/enforced-teams";
    public const string ConfigMapsPath = "/api/v1/namespaces/teams/configmaps";

    public static string Policy(string publicKeyPem) => $$$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: e2e-global-context-teams
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: enforced-for-listed-teams
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: enforced
                globalReference:
                  name: enforced-teams.teams
              - name: listed
                globalReference:
                  name: enforced-teams
                  jmesPath: "[].data.team"
              preconditions:
                all:
                - key: "{{ request.namespace }}"
                  operator: AnyIn
                  value: "{{ enforced }}"
                - key: "{{ request.namespace }}"
                  operator: AnyIn
                  value: "{{ listed }}"
              verifyImages:
              - imageReferences: ["127.0.0.1:*/e2e/gctx-*"]
                attestors:
                - entries:
                  - keys:
                      publicKeys: |-
        {{{string.Join("\n", publicKeyPem.TrimEnd().Split('\n').Select(line => "                  " + line))}}}
                      rekor: {ignoreTlog: true}
        """;

    /// <summary>The GlobalContextEntry and the ConfigMaps it caches, as the API server would serve them.</summary>
    public static IEnumerable<(string Path, string Json)> ApiObjects() =>
    [
        (EntryPath, """
            {"apiVersion":"kyverno.io/v2alpha1","kind":"GlobalContextEntry","metadata":{"name":"enforced-teams"},
             "spec":{"kubernetesResource":{"group":"","version":"v1","resource":"configmaps","namespace":"teams"},
                     "projections":[{"name":"teams","jmesPath":"[].data.team"}]}}
            """),
        (ConfigMapsPath, """
            {"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"3"},
             "items":[{"metadata":{"name":"payments","namespace":"teams"},"data":{"team":"payments"}},
                      {"metadata":{"name":"billing","namespace":"teams"},"data":{"team":"billing"}}]}
            """),
    ];

    private Task<AdmissionResult> Review(string @namespace) =>
        fixture.Admission.ReviewAsync("/mutate", AdmissionClient.Review(new TestPod(@namespace, "gctx-app", fixture.GlobalContextImage.TagReference).ToJson()));

    [Fact]
    public async Task In_a_listed_namespace_the_unsigned_image_is_denied()
    {
        var result = await Review("billing");

        Assert.True(result.Allowed == false, result.Describe() + "\n" + fixture.Describe());
        Assert.Contains($"{PolicyName}:\n  enforced-for-listed-teams: ", result.MessageText, StringComparison.Ordinal);
        // Denied for the signature, not because a context entry (the projection among them) failed to load.
        Assert.DoesNotContain("failed to load context", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("image verification failed", result.MessageText, StringComparison.Ordinal);
        Assert.Contains(fixture.KubernetesApi.Requests, r => r.PathAndQuery == EntryPath);
        Assert.Contains(fixture.KubernetesApi.Requests, r => r.PathAndQuery.StartsWith(ConfigMapsPath + "?limit=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_a_namespace_that_is_not_listed_the_rule_does_not_apply()
    {
        var result = await Review("web");

        Assert.True(result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
    }
}

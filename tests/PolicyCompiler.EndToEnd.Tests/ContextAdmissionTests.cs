using System.Text.Json;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// A key kept in a ConfigMap, as Kyverno's verify-image-with-multi-keys keeps it: the rule's <c>context</c> reads the
/// ConfigMap through the webhook's <c>Kubernetes:ApiServer</c> (a <see cref="FakeKubernetesApiServer"/>, since there is no
/// cluster here) and <c>publicKeys: "{{ keys.data.production }}"</c> is substituted and parsed at admission. The images
/// are real ones in the real registry, signed by the fixture's two keys.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ContextAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-keys-from-configmap";
    public const string ImagePattern = "127.0.0.1:*/e2e/ctx-*";
    public const string ConfigMapPath = "/api/v1/namespaces/kyverno/configmaps/keys";

    public static string Policy() => """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: e2e-keys-from-configmap
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: signed-with-the-production-key
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: keys
                configMap:
                  name: keys
                  namespace: kyverno
              verifyImages:
              - imageReferences: ["127.0.0.1:*/e2e/ctx-*"]
                attestors:
                - entries:
                  - keys:
                      publicKeys: "{{ keys.data.production }}"
                      rekor: {ignoreTlog: true}
        """;

    /// <summary>The ConfigMap as the API server returns it, holding the production key.</summary>
    public static string ConfigMap(string productionKeyPem) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new Dictionary<string, string> { ["name"] = "keys", ["namespace"] = "kyverno" },
        ["data"] = new Dictionary<string, string> { ["production"] = productionKeyPem },
    });

    private Task<AdmissionResult> Review(string name, PushedImage image) =>
        fixture.Admission.ReviewAsync("/mutate", AdmissionClient.Review(new TestPod("team-a", name, image.TagReference).ToJson()));

    [Fact]
    public async Task ImageSignedWithTheKeyInTheConfigMapIsAdmittedAndPinned()
    {
        var result = await Review("ctx-signed", fixture.ContextSignedImage);

        Assert.True(result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
        Assert.Contains(result.PatchOperations, o => o.Path == "/spec/containers/0/image" && o.Value!.GetValue<string>().EndsWith("@" + fixture.ContextSignedImage.Digest, StringComparison.Ordinal));
        Assert.Contains(fixture.KubernetesApi.Requests, r => r.PathAndQuery == ConfigMapPath);
    }

    [Fact]
    public async Task ImageSignedWithAnotherKeyIsDenied()
    {
        var result = await Review("ctx-other", fixture.ContextOtherKeyImage);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"{PolicyName}:\n  signed-with-the-production-key: ", result.MessageText, StringComparison.Ordinal);
        Assert.Contains(".attestors[0].entries[0].keys", result.MessageText, StringComparison.Ordinal);
    }
}

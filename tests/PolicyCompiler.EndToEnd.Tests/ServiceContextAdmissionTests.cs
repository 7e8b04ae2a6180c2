using System.Text.Json;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.Tests.Shared;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// A rule whose preconditions read the answer of a service outside the cluster (<c>apiCall.service</c>): the webhook POSTs
/// the request's namespace and images to <see cref="WebhookFixture.DecisionService"/> (a Kestrel HTTPS test service whose
/// CA only the policy's <c>caBundle</c> holds) and enforces the signature check only where the service says so. The
/// image is real and unsigned, in the real registry, so an enforced rule denies it.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ServiceContextAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-service-decides";

    public static string Policy(Uri service, string caPem, string publicKeyPem)
    {
        static string Indent(string pem, int spaces) => string.Join("\n", pem.TrimEnd().Split('\n').Select(line => new string(' ', spaces) + line));
        return $$$"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: e2e-service-decides
            spec:
              validationFailureAction: Enforce
              failurePolicy: Fail
              webhookTimeoutSeconds: 30
              rules:
                - name: enforced-where-the-service-says
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  context:
                  - name: decision
                    apiCall:
                      method: POST
                      service:
                        url: "{{{service}}}decide"
                        caBundle: |
            {{{Indent(caPem, 14)}}}
                        headers:
                        - key: X-Requested-By
                          value: "policy-compiler {{ request.namespace }}"
                      data:
                      - key: namespace
                        value: "{{ request.namespace }}"
                      - key: images
                        value: "{{ request.object.spec.containers[].image }}"
                      jmesPath: enforce
                  preconditions:
                    all:
                    - key: "{{ decision }}"
                      operator: Equals
                      value: true
                  verifyImages:
                  - imageReferences: ["127.0.0.1:*/e2e/svc-*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
            {{{Indent(publicKeyPem, 18)}}}
                          rekor: {ignoreTlog: true}
            """;
    }

    /// <summary>The service's rule: enforce in <c>strict</c>, not in <c>relaxed</c>, and be down for <c>outage</c>.</summary>
    public static ServiceAnswer Decide(ReceivedRequest request)
    {
        var ns = JsonDocument.Parse(request.Body).RootElement.GetProperty("namespace").GetString();
        return ns switch
        {
            "outage" => new ServiceAnswer(503, "maintenance", "text/plain"),
            _ => new ServiceAnswer(200, $$"""{"enforce":{{(ns == "strict" ? "true" : "false")}}}"""),
        };
    }

    private Task<AdmissionResult> Review(string @namespace) =>
        fixture.Admission.ReviewAsync("/mutate", AdmissionClient.Review(new TestPod(@namespace, "svc-app", fixture.ServiceContextImage.TagReference).ToJson()));

    private List<ReceivedRequest> RequestsFrom(string @namespace) =>
        [.. fixture.DecisionService.Requests.Where(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("namespace").GetString() == @namespace)];

    [Fact]
    public async Task Where_the_service_enforces_the_unsigned_image_is_denied()
    {
        var result = await Review("strict");

        Assert.True(result.Allowed == false, result.Describe() + "\n" + fixture.Describe());
        Assert.Contains($"{PolicyName}:\n  enforced-where-the-service-says: ", result.MessageText, StringComparison.Ordinal);
        var request = Assert.Single(RequestsFrom("strict"));
        Assert.Equal(("POST", "/decide"), (request.Method, request.PathAndQuery));
        Assert.Equal([fixture.ServiceContextImage.TagReference], JsonDocument.Parse(request.Body).RootElement.GetProperty("images").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal("policy-compiler strict", request.Headers["X-Requested-By"]);
        Assert.False(request.Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task Where_the_service_does_not_enforce_the_rule_does_not_apply()
    {
        var result = await Review("relaxed");

        Assert.True(result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
        Assert.Single(RequestsFrom("relaxed"));
    }

    [Fact]
    public async Task A_service_outage_is_an_error_that_fail_policy_denies()
    {
        var result = await Review("outage");

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("failed to load context: failed to fetch data for APICall decision: HTTP 503", System.Text.RegularExpressions.Regex.Replace(result.MessageText ?? string.Empty, "\n +", " "), StringComparison.Ordinal);
    }
}

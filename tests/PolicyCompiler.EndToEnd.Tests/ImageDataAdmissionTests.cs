using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// A rule <c>context</c> entry of type <c>imageRegistry</c>, as the Kyverno documentation uses it: the published webhook
/// reads each Pod image's config from the real registry (images pushed by skopeo, their config <c>User</c> set) and the
/// rule's preconditions decide on it. Images that run as root must be signed; others are not checked. The config's
/// user is picked by a <c>jmesPath</c> with a variable in it (the field name is another entry), compiled into the binary.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ImageDataAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-root-images-signed";
    public const string RuleName = "root-images-must-be-signed";
    public const string ImagePattern = "127.0.0.1:*/e2e/imgdata-*";

    public static string Policy(string publicKeyPem) => $$$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {{{PolicyName}}}
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: {{{RuleName}}}
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: imageData
                imageRegistry:
                  reference: "{{ request.object.spec.containers[0].image }}"
                  imageRegistryCredentials:
                    allowInsecureRegistry: true
              - name: layers
                imageRegistry:
                  reference: "{{ imageData.resolvedImage }}"
                  jmesPath: "manifest.layers | length(@)"
              - name: userField
                variable:
                  value: User
              - name: user
                variable:
                  value: "{{ imageData.configData.config }}"
                  jmesPath: '"{{ userField }}" || '''''
              preconditions:
                all:
                - key: "{{ layers }}"
                  operator: GreaterThan
                  value: 0
                any:
                - key: "{{ user }}"
                  operator: AnyIn
                  value: ["", "root", "0"]
              verifyImages:
              - imageReferences: ["{{{ImagePattern}}}"]
                attestors:
                - entries:
                  - keys:
                      rekor: {ignoreTlog: true}
                      publicKeys: |-
        {{{string.Join("\n", publicKeyPem.Trim().Split('\n').Select(l => "                  " + l))}}}
        """;

    private Task<AdmissionResult> Review(string name, PushedImage image) =>
        fixture.Admission.ReviewAsync("/mutate", AdmissionClient.Review(new TestPod("team-a", name, image.TagReference).ToJson()));

    [Fact]
    public async Task UnsignedImageWhoseConfigRunsAsRootIsDenied()
    {
        var result = await Review("imgdata-root", fixture.ImageDataRootUnsignedImage);

        Assert.True(result.Allowed == false, result.Describe() + "\n" + fixture.Describe());
        Assert.Contains($"{PolicyName}:\n  {RuleName}: ", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedImageWhoseConfigRunsAsRootIsAdmittedAndPinned()
    {
        var result = await Review("imgdata-root-signed", fixture.ImageDataRootSignedImage);

        Assert.True(result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
        Assert.Contains(result.PatchOperations, o => o.Path == "/spec/containers/0/image" && o.Value!.GetValue<string>().EndsWith("@" + fixture.ImageDataRootSignedImage.Digest, StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnsignedImageWhoseConfigNamesAnotherUserIsNotChecked()
    {
        var result = await Review("imgdata-app", fixture.ImageDataNonRootImage);

        // The preconditions read User 65532:65532 from the registry, so the rule does not apply: no verification, no pin.
        Assert.True(result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
        Assert.DoesNotContain(result.PatchOperations, o => o.Path == "/spec/containers/0/image");
    }
}

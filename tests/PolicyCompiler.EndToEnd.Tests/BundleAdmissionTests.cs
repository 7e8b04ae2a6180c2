using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>type: SigstoreBundle</c>: the real cosign v3 attestation bundle, attached as an OCI 1.1 referrer of its rebuilt
/// subject image in the real registry, verified by the published webhook against the built-in public-good trust root
/// (Fulcio certificate for cody@soyland.com, production Rekor dsse entry).
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class BundleAdmissionTests(WebhookFixture fixture)
{
    private const string Namespace = "e2e";

    [Fact]
    public async Task ImageWithTheRealCosignV3AttestationBundleIsAdmittedAndPinned()
    {
        var image = fixture.Bundles.Attested;

        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle", image.TagReference));

        Assert.True(result.Allowed == true, "expected allowed\n" + result.Describe() + "\n" + fixture.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.TagReference + "@" + CosignV3BundleImages.SubjectDigest);
    }

    [Fact]
    public async Task TheSameBundleUnderAPolicyExpectingAnotherIdentityIsDenied()
    {
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-other", fixture.Bundles.AttestedForOtherPolicy.TagReference));

        Assert.True(result.Allowed == false, "expected denied\n" + result.Describe());
        Assert.Contains($"{CosignV3BundleImages.WrongIdentityPolicyName}:", result.MessageText, StringComparison.Ordinal);
        Assert.Contains(".attestations[0].attestors[0].entries[0].keyless:", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("subject mismatch", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImageWithoutAnyBundleIsDenied()
    {
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-none", fixture.Bundles.WithoutBundle.TagReference));

        Assert.True(result.Allowed == false, "expected denied\n" + result.Describe());
        Assert.Contains("no attestations found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompiledConditionsReadTheRealPredicateAndTheRequestAndAreNotCachedAcrossRequests()
    {
        var image = fixture.Bundles.AttestedForConditions;

        var admitted = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-cond-ok", image.TagReference));
        var refused = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-cond-other", image.TagReference));
        var admittedAgain = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-cond-ok-again", image.TagReference));

        Assert.True(admitted.Allowed == true, "expected allowed\n" + admitted.Describe() + "\n" + fixture.Describe());
        Assert.Contains(admitted.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.TagReference + "@" + CosignV3BundleImages.SubjectDigest);
        Assert.True(refused.Allowed == false, "expected denied\n" + refused.Describe());
        Assert.Contains(
            $"attestation checks failed for {image.TagReference} and predicate {CosignV3BundleImages.PredicateType}: Pods labelled app=bundle-cond-other may not run this image",
            refused.MessageText,
            StringComparison.Ordinal);
        Assert.True(admittedAgain.Allowed == true, "expected allowed\n" + admittedAgain.Describe());
    }

    [Fact]
    public async Task ConditionThePredicateDoesNotMeetDeniesWithTheSubstitutedMessage()
    {
        var image = fixture.Bundles.AttestedForStrictConditions;

        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-strict", image.TagReference));

        Assert.True(result.Allowed == false, "expected denied\n" + result.Describe());
        Assert.Contains($"{CosignV3BundleImages.StrictConditionsPolicyName}:", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("the attested data names foo=bar, not baz", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateDenyReadsTheNamedRealPredicateAndTheRequest()
    {
        var image = fixture.Bundles.AttestedForDeny;

        var denied = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-deny-app", image.TagReference));
        var exempt = await fixture.Admission.MutateAsync(new TestPod(Namespace, "bundle-deny-exempt", image.TagReference));

        Assert.True(denied.Allowed == false, "expected denied\n" + denied.Describe());
        // The reason holds ": ", so Kyverno's YAML encoder single-quotes it.
        Assert.Contains($"{CosignV3BundleImages.DenyPolicyName}:\n  check-bundle: 'validation in verifyImages failed: {CosignV3BundleImages.DenyMessage}", denied.MessageText, StringComparison.Ordinal);
        Assert.True(exempt.Allowed == true, "expected allowed\n" + exempt.Describe() + "\n" + fixture.Describe());
        Assert.Contains(exempt.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.TagReference + "@" + CosignV3BundleImages.SubjectDigest);
    }
}

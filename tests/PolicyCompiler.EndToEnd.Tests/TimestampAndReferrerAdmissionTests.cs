using System.Net;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>cosignOCI11</c> and <c>ctlog.tsaCertChain</c> through the published webhook: a signature found only among the
/// image's OCI 1.1 referrers, and signatures whose RFC 3161 timestamp comes from the policy's authority or from another.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class TimestampAndReferrerAdmissionTests(WebhookFixture fixture)
{
    private const string Namespace = "e2e";

    private TimestampAndReferrerImages Images => fixture.Attached;

    private async Task<AdmissionResult> MutateAsync(string name, PushedImage image)
    {
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, name, image.TagReference));
        Assert.True(result.HttpStatus == HttpStatusCode.OK, result.Describe() + "\n" + fixture.Describe());
        return result;
    }

    [Fact]
    public async Task ASignatureAttachedAsAnOci11ReferrerAdmitsThePodAndPinsIt()
    {
        var result = await MutateAsync("oci11", Images.ReferrerSigned);

        Assert.True(result.Allowed == true, result.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == Images.ReferrerSigned.PinnedReference);
    }

    [Fact]
    public async Task WithCosignOci11ASignatureAtTheTagStillCounts()
    {
        var result = await MutateAsync("oci11-tag", Images.TagSigned);

        Assert.True(result.Allowed == true, result.Describe());
    }

    [Fact]
    public async Task AReferrerSignatureDoesNotCountForAPolicyWithoutCosignOci11()
    {
        var result = await MutateAsync("referrer-without-oci11", Images.ReferrerSignedWithoutOci11);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATimestampFromThePolicysAuthorityAdmits()
    {
        var result = await MutateAsync("stamped", Images.Stamped);

        Assert.True(result.Allowed == true, result.Describe());
    }

    [Fact]
    public async Task ATimestampFromAnAuthorityThePolicyDoesNotNameDenies()
    {
        var result = await MutateAsync("stamped-stranger", Images.StampedByStranger);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"resource Pod/{Namespace}/stamped-stranger was blocked due to the following policies", result.MessageText, StringComparison.Ordinal);
        Assert.Contains(TimestampAndReferrerImages.TimestampPolicyName, result.MessageText, StringComparison.Ordinal);
        Assert.Contains("unable to verify RFC3161 timestamp", result.MessageText, StringComparison.Ordinal);
    }
}

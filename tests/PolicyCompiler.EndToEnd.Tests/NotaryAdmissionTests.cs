using System.Net;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>type: Notary</c> through the published webhook: a Notation signature attached as an OCI 1.1 referrer in the real
/// registry admits the Pod and pins it; a signature from another root, or none, denies it.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class NotaryAdmissionTests(WebhookFixture fixture)
{
    private const string Namespace = "e2e";

    private NotaryImages Images => fixture.Notary;

    private async Task<AdmissionResult> MutateAsync(string name, PushedImage image)
    {
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, name, image.TagReference));
        Assert.True(result.HttpStatus == HttpStatusCode.OK, result.Describe() + "\n" + fixture.Describe());
        return result;
    }

    [Fact]
    public async Task ANotationSignatureFromThePolicysRootAdmitsThePodAndPinsIt()
    {
        var result = await MutateAsync("notary-signed", Images.Signed);

        Assert.True(result.Allowed == true, result.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == Images.Signed.PinnedReference);
    }

    [Fact]
    public async Task AnUnsignedImageIsDenied()
    {
        var result = await MutateAsync("notary-unsigned", Images.Unsigned);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"resource Pod/{Namespace}/notary-unsigned was blocked due to the following policies", result.MessageText, StringComparison.Ordinal);
        Assert.Contains(NotaryImages.PolicyName, result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASignatureChainingToAnotherRootIsDenied()
    {
        var result = await MutateAsync("notary-stranger", Images.SignedByStranger);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("none of the attestor certificates", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANotationSignedAttestationWhoseConditionsHoldAdmitsThePod()
    {
        var result = await MutateAsync("notation-attested-pass", Images.AttestedPass);

        Assert.True(result.Allowed == true, result.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == Images.AttestedPass.PinnedReference);
    }

    [Fact]
    public async Task ANotationSignedAttestationWhoseConditionsFailDeniesThePod()
    {
        var result = await MutateAsync("notation-attested-fail", Images.AttestedFail);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("check-notation-attestation", result.MessageText, StringComparison.Ordinal);
        Assert.Contains($"attestation checks failed for {Images.AttestedFail.TagReference}", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAttestationSignedByAnotherRootDoesNotVouch()
    {
        var result = await MutateAsync("notation-attested-stranger", Images.AttestedByStranger);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("image attestations verification failed", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("none of the attestor certificates", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImageWithoutTheAttestationIsDenied()
    {
        var result = await MutateAsync("notation-attested-none", Images.NotAttested);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains($"no attestations of type {NotaryImages.AttestationType} found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASigningCertificateItsOcspResponderCallsGoodAdmitsThePod()
    {
        var result = await MutateAsync("notary-ocsp-good", Images.OcspGood);

        Assert.True(result.Allowed == true, result.Describe());
        Assert.Contains("GET /intermediate/ocsp", Images.Revocation!.Requests);
    }

    [Fact]
    public async Task ARevokedSigningCertificateDeniesThePod()
    {
        var result = await MutateAsync("notary-revoked", Images.Revoked);

        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains(NotaryImages.PolicyName, result.MessageText, StringComparison.Ordinal);
        Assert.Contains("is revoked (OCSP: revoked at", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADenialForAnOcspOutageIsNotKeptOnceTheResponderAnswersAgain()
    {
        var revocation = Images.Revocation!;
        revocation.Ocsp = RevocationAnswer.ServerError;
        AdmissionResult duringOutage;
        try
        {
            duringOutage = await MutateAsync("notary-ocsp-outage", Images.OcspOutage);
        }
        finally
        {
            revocation.Ocsp = RevocationAnswer.Real;
        }

        // Strict Notation refuses a status it cannot learn; the same image is admitted at the next review, where a kept
        // verdict would deny it for the cache's hour.
        Assert.True(duringOutage.Allowed == false, duringOutage.Describe());
        Assert.Contains("revocation status of the certificate", duringOutage.MessageText, StringComparison.Ordinal);
        Assert.Contains("is unknown", duringOutage.MessageText, StringComparison.Ordinal);

        var afterwards = await MutateAsync("notary-ocsp-outage-2", Images.OcspOutage);
        Assert.True(afterwards.Allowed == true, afterwards.Describe());
    }
}

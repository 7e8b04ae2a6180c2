using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// Keyless (Fulcio/Rekor/CT) verification through the published webhook: images in the real registry, signed by the
/// tests' private Sigstore deployment (<see cref="PrivateSigstore"/>), judged by the three keyless policies the
/// fixture compiled in (<see cref="KeylessImages"/>). Each denial is asserted as the whole message, Kyverno's envelope
/// around <c>image verification failed for &lt;image&gt;: .attestors[0].entries[0].keyless: &lt;reason&gt;</c>.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class KeylessAdmissionTests(WebhookFixture fixture, ITestOutputHelper output)
{
    private const string Namespace = "e2e-keyless";
    private const string AttestorPath = ".attestors[0].entries[0].keyless";
    private const string VerifyImagesAnnotation = "kyverno.io/verify-images";

    private KeylessImages Images => fixture.Keyless;

    // Allowed: every way of naming the identity, with the digest patch.

    [Fact]
    public async Task EmailIdentityMatchingTheSubjectWildcardAndTheIssuerIsAllowedAndPinned()
    {
        await AssertAllowedAndPinnedAsync("id-allowed", Images.IdentityAllowed);
    }

    [Fact]
    public async Task CertificateWithOnlyTheDeprecatedRawIssuerExtensionIsAllowed()
    {
        await AssertAllowedAndPinnedAsync("id-legacy-issuer", Images.LegacyIssuerAllowed);
    }

    [Fact]
    public async Task WorkflowIdentityMatchingSubjectAndIssuerRegExpsIsAllowedAndPinned()
    {
        await AssertAllowedAndPinnedAsync("re-allowed", Images.RegExpAllowed);
    }

    [Fact]
    public async Task WorkflowIdentityWithEveryRequiredExtensionIsAllowedAndPinned()
    {
        await AssertAllowedAndPinnedAsync("ext-allowed", Images.ExtensionsAllowed);
    }

    [Fact]
    public async Task ValidSignatureNextToAForgedOneIsAllowed()
    {
        var layers = (await fixture.Registry.Distribution.GetManifestAsync(Images.ForgedThenValid.Image.Repository, CosignSigner.SignatureTag(Images.ForgedThenValid.Image.Digest))).Json["layers"]!.AsArray();
        Assert.Equal(2, layers.Count);

        await AssertAllowedAndPinnedAsync("id-forged-then-valid", Images.ForgedThenValid);
    }

    [Fact]
    public async Task ValidateAllowsTheKeylessPodTheMutationProduced()
    {
        var pod = new TestPod(Namespace, "id-validate", Images.IdentityAllowed.Image.TagReference);
        var mutation = await fixture.Admission.MutateAsync(pod);
        Assert.True(mutation.Allowed == true && mutation.Patch is not null, "the mutation this test starts from failed\n" + Context(mutation));
        var mutated = JsonPatch.Apply(pod.ToJson(), mutation.Patch!).AsObject();

        var result = await fixture.Admission.ValidateAsync(mutated);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected the mutated Pod to be allowed\n" + Context(result));
    }

    // Denied: the identity.

    [Fact]
    public async Task SubjectTheWildcardDoesNotMatchIsDenied()
    {
        await AssertDeniedAsync("id-wrong-subject", Images.WrongSubject, KeylessImages.IdentityPolicyName,
            $"certificate: subject mismatch: expected {KeylessImages.IdentitySubject}, got {KeylessImages.WrongSubjectEmail}");
    }

    [Fact]
    public async Task IssuerOtherThanThePoliciesIsDenied()
    {
        await AssertDeniedAsync("id-wrong-issuer", Images.WrongIssuer, KeylessImages.IdentityPolicyName,
            $"certificate: issuer mismatch: expected {KeylessImages.IdentityIssuer}, got {KeylessImages.WrongIssuerUrl}");
    }

    [Fact]
    public async Task SubjectNotMatchingSubjectRegExpIsDenied()
    {
        await AssertDeniedAsync("re-wrong-subject", Images.RegExpWrongSubject, KeylessImages.RegExpPolicyName,
            $"certificate: subject mismatch: expected to match {KeylessImages.SubjectRegExp}, got https://github.com/policy-compiler/e2e/.github/workflows/release.yml@refs/heads/main");
    }

    [Fact]
    public async Task IssuerNotMatchingTheAnchoredIssuerRegExpIsDenied()
    {
        await AssertDeniedAsync("re-wrong-issuer", Images.RegExpWrongIssuer, KeylessImages.RegExpPolicyName,
            $"certificate: issuer mismatch: expected to match {KeylessImages.IssuerRegExp}, got {KeylessImages.RegExpWrongIssuerUrl}");
    }

    [Fact]
    public async Task MissingRequiredExtensionIsDenied()
    {
        await AssertDeniedAsync("ext-missing", Images.ExtensionMissing, KeylessImages.ExtensionsPolicyName,
            "certificate: extension mismatch: githubWorkflowTrigger is not present");
    }

    [Fact]
    public async Task WrongRawGitHubExtensionIsDenied()
    {
        await AssertDeniedAsync("ext-wrong-raw", Images.ExtensionWrongRaw, KeylessImages.ExtensionsPolicyName,
            "certificate: extension mismatch: expected push for githubWorkflowTrigger, got pull_request");
    }

    [Fact]
    public async Task WrongDerEncodedExtensionIsDenied()
    {
        await AssertDeniedAsync("ext-wrong-der", Images.ExtensionWrongDer, KeylessImages.ExtensionsPolicyName,
            $"certificate: extension mismatch: expected https://github.com/policy-compiler/e2e for sourceRepositoryURI, got {KeylessImages.AttackerRepositoryUri}");
    }

    [Fact]
    public async Task WrongExtensionRequiredByOidIsDenied()
    {
        await AssertDeniedAsync("ext-wrong-oid", Images.ExtensionWrongByOid, KeylessImages.ExtensionsPolicyName,
            $"certificate: extension mismatch: expected {KeylessImages.WorkflowSha} for {SigningIdentity.GitHubWorkflowShaOid}, got {KeylessImages.OtherSha}");
    }

    // Denied: the certificate authority and the CT log.

    [Fact]
    public async Task CertificateFromAnotherCertificateAuthorityIsDenied()
    {
        // The signature presents the other CA's intermediate and root; OpenSSL's verdict on that chain is the detail.
        await AssertDeniedAsync("id-other-ca", Images.OtherCa, KeylessImages.IdentityPolicyName,
            "certificate: the certificate does not chain to a trusted root: the chain ends at a root that is not trusted");
    }

    [Fact]
    public async Task CertificateOfTheTrustedCaNotIssuedForCodeSigningIsDenied()
    {
        // The chain is built with the code-signing application policy, and the leaf's EKU is serverAuth.
        await AssertDeniedAsync("id-server-auth", Images.NotForCodeSigning, KeylessImages.IdentityPolicyName,
            "certificate: the certificate does not chain to a trusted root: a certificate in the chain is not valid for code signing");
    }

    [Fact]
    public async Task CertificateWithoutAnEmbeddedSctIsDenied()
    {
        Assert.Null(Images.NoSct.Signature.Certificate.Extensions[TestFulcio.SctListOid]);

        await AssertDeniedAsync("id-no-sct", Images.NoSct, KeylessImages.IdentityPolicyName,
            "certificate: the certificate has no embedded SCT");
    }

    [Fact]
    public async Task SctFromAnUntrustedCtLogIsDenied()
    {
        await AssertDeniedAsync("id-untrusted-sct", Images.UntrustedSct, KeylessImages.IdentityPolicyName,
            "certificate: the SCT comes from a CT log that is not trusted");
    }

    [Fact]
    public async Task SctClaimingTheTrustedCtLogButSignedByAnotherKeyIsDenied()
    {
        await AssertDeniedAsync("id-forged-sct", Images.ForgedSct, KeylessImages.IdentityPolicyName,
            "certificate: the SCT signature does not verify with the CT log key");
    }

    [Fact]
    public async Task CertificateExpiredAtTheRekorIntegratedTimeIsDenied()
    {
        var certificate = Images.Expired.Signature.Certificate;
        var integrated = DateTimeOffset.FromUnixTimeSeconds(Images.Expired.Signature.Bundle!.IntegratedTime);
        Assert.True(integrated > certificate.NotAfter.ToUniversalTime(), "the test certificate must have expired before the integrated time");

        await AssertDeniedAsync("id-expired", Images.Expired, KeylessImages.IdentityPolicyName,
            $"certificate: the certificate was not valid at {Iso(integrated.UtcDateTime)} (valid {Iso(certificate.NotBefore.ToUniversalTime())} to {Iso(certificate.NotAfter.ToUniversalTime())})");
    }

    // Denied: the transparency log.

    [Fact]
    public async Task SignatureWithoutARekorBundleIsDenied()
    {
        Assert.False(Images.NoBundle.Signature.Annotations.ContainsKey(KeylessSignature.BundleAnnotation));

        await AssertDeniedAsync("id-no-bundle", Images.NoBundle, KeylessImages.IdentityPolicyName,
            "no transparency log entry: the signature has no Rekor bundle (sign with a transparency log, or set rekor.ignoreTlog: true)");
    }

    [Fact]
    public async Task BundleOfAnotherRekorLogIsDenied()
    {
        await AssertDeniedAsync("id-other-rekor", Images.OtherRekor, KeylessImages.IdentityPolicyName,
            $"transparency log: the Rekor bundle names log {fixture.OtherSigstore.Rekor.LogIdHex}, which is not a trusted transparency log");
    }

    [Fact]
    public async Task BundleClaimingTheTrustedLogButSignedByAnotherKeyIsDenied()
    {
        Assert.Equal(fixture.Sigstore.Rekor.LogIdHex, Images.ForgedBundle.Signature.Bundle!.LogId);

        await AssertDeniedAsync("id-forged-bundle", Images.ForgedBundle, KeylessImages.IdentityPolicyName,
            "transparency log: the Rekor bundle's SignedEntryTimestamp does not verify with the log key");
    }

    [Fact]
    public async Task BundleWhoseIntegratedTimeWasMovedIntoTheCertificatesValidityIsDenied()
    {
        // Had the webhook trusted the edited integratedTime, the expired certificate would have been valid then.
        var certificate = Images.TamperedBundle.Signature.Certificate;
        var claimed = DateTimeOffset.FromUnixTimeSeconds(Images.TamperedBundle.Signature.Bundle!.IntegratedTime);
        Assert.InRange(claimed, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime());

        await AssertDeniedAsync("id-tampered-bundle", Images.TamperedBundle, KeylessImages.IdentityPolicyName,
            "transparency log: the Rekor bundle's SignedEntryTimestamp does not verify with the log key");
    }

    [Fact]
    public async Task GenuineBundleOfAnotherSignatureIsDenied()
    {
        Assert.Equal(Images.IdentityAllowed.Signature.Bundle, Images.ReplayedBundle.Signature.Bundle);

        await AssertDeniedAsync("id-replayed-bundle", Images.ReplayedBundle, KeylessImages.IdentityPolicyName,
            "transparency log: the Rekor entry does not match the signature: the entry logs another payload");
    }

    // Denied: the signed payload.

    [Fact]
    public async Task ValidKeylessSignatureOfAnotherDigestIsDenied()
    {
        var signedDigest = Images.IdentityAllowed.Image.Digest;
        Assert.NotEqual(signedDigest, Images.OtherDigest.Image.Digest);

        await AssertDeniedAsync("id-other-digest", Images.OtherDigest, KeylessImages.IdentityPolicyName,
            $"invalid signature: signed payload names digest {signedDigest}, not {Images.OtherDigest.Image.Digest}");
    }

    private async Task AssertAllowedAndPinnedAsync(string podName, KeylessImage image)
    {
        var pod = new TestPod(Namespace, podName, image.Image.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected allowed\n" + Context(result));
        Assert.Equal("JSONPatch", result.PatchType);
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.Image.PinnedReference);
        var patched = JsonPatch.Apply(pod.ToJson(), result.Patch!);
        Assert.Equal(image.Image.PinnedReference, patched["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        var verdicts = JsonNode.Parse(patched["metadata"]!["annotations"]![VerifyImagesAnnotation]!.GetValue<string>())!.AsObject();
        var verdict = Assert.Single(verdicts);
        Assert.Contains(image.Image.Digest, verdict.Key, StringComparison.Ordinal);
        Assert.Equal("pass", verdict.Value!.GetValue<string>());
    }

    private async Task AssertDeniedAsync(string podName, KeylessImage image, string policyName, string reason)
    {
        var pod = new TestPod(Namespace, podName, image.Image.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        var context = Context(result);
        Assert.True(result.Allowed == false, "expected denied\n" + context);
        Assert.True(result.PatchBase64 is null, "a denial carries no patch\n" + context);
        // Kyverno's whole message: its envelope, then policy, rule and reason as its YAML encoder prints them.
        var expected = PolicyCompiler.Runtime.Admission.KyvernoMessages.Blocked(
            "Pod",
            Namespace,
            podName,
            new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                [policyName] = new Dictionary<string, string> { [KeylessImages.RuleName] = $"image verification failed for {image.Image.TagReference}: {AttestorPath}: {reason}" },
            });
        Assert.Equal(expected, result.Message);
    }

    private void AssertReviewAnswered(AdmissionResult result)
    {
        output.WriteLine(result.Describe());
        Assert.True(result.HttpStatus == HttpStatusCode.OK, $"expected HTTP 200\n{Context(result)}");
        Assert.True(result.Response is not null, "the body is not an AdmissionReview with a response\n" + Context(result));
        var sentUid = JsonNode.Parse(result.RequestBody)!["request"]!["uid"]!.GetValue<string>();
        Assert.Equal(sentUid, result.Uid);
    }

    /// <summary>The round-trip ("O") form the webhook writes times in.</summary>
    private static string Iso(DateTime utc) => utc.ToString("O", CultureInfo.InvariantCulture);

    private string Context(AdmissionResult result) => result.Describe() + "\n" + fixture.Describe();
}

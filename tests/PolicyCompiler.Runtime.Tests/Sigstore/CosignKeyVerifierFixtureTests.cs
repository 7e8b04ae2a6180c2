using System.Text;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// <see cref="CosignKeyVerifier"/> against signatures made by the real cosign, with the outcome the containers/image
/// project's own tests expect (github.com/containers/image, signature/policy_eval_sigstore_test.go and
/// signature/internal/sigstore_payload_test.go). Only the static-key part is checked here: identity matching,
/// certificates and Rekor bundles are other layers.
/// </summary>
public sealed class CosignKeyVerifierFixtureTests
{
    private const string CosignKey = "cosign.pub";
    private const string Cosign2Key = "cosign2.pub";

    // signature/internal/fixtures_info_test.go: TestSigstoreManifestDigest, "the manifest digest of valid.signature".
    private const string ValidSignatureManifestDigest = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";

    // TestPRSigstoreSignedIsRunningImageAllowed, "A simple success case: single valid signature".
    [Fact]
    public void ValidImageIsAcceptedByCosignKey()
    {
        var result = Verify("dir-img-cosign-valid", CosignKey);

        AssertAccepted(result);
    }

    // TestPRSigstoreSignedIsRunningImageAllowed, "2 valid signatures".
    [Fact]
    public void ImageWithTwoValidSignaturesIsAccepted()
    {
        Assert.Equal(2, CosignFixtures.Signatures("dir-img-cosign-valid-2").Count);

        var result = Verify("dir-img-cosign-valid-2", CosignKey);

        AssertAccepted(result);
    }

    // TestPRSigstoreSignedIsRunningImageAllowed, "One invalid, one valid signature (in this order)".
    [Fact]
    public void InvalidSignatureBeforeValidOneDoesNotPreventAcceptance()
    {
        var signatures = CosignFixtures.Signatures("dir-img-cosign-mixed");
        var digest = CosignFixtures.ManifestDigest("dir-img-cosign-mixed");
        var key = CosignFixtures.Key(CosignKey);

        Assert.Equal(2, signatures.Count);
        AssertRejected(CosignKeyVerifier.Verify([signatures[0]], digest, key));
        AssertAccepted(CosignKeyVerifier.Verify(signatures, digest, key));
    }

    // TestPRrSigstoreSignedIsSignatureAccepted / TestPRSigstoreSignedIsRunningImageAllowed:
    // "Signatures with a matching tag work" (a signature created by containers/image itself, with an "optional" object).
    [Fact]
    public void SignatureWithTagAndOptionalFieldsIsAccepted()
    {
        var result = Verify("dir-img-cosign-valid-with-tag", CosignKey);

        AssertAccepted(result);
    }

    // TestPRrSigstoreSignedIsSignatureAccepted, "Error computing manifest digest": rejected. Here the manifest's sha256
    // is simply not the digest the signature names.
    [Fact]
    public void ManifestDigestErrorImageIsRejected()
    {
        var digest = CosignFixtures.ManifestDigest("dir-img-cosign-manifest-digest-error");

        var result = Verify("dir-img-cosign-manifest-digest-error", CosignKey);

        Assert.NotEqual(ValidSignatureManifestDigest, digest);
        AssertRejected(result, $"signed payload names digest {ValidSignatureManifestDigest}, not {digest}");
    }

    // TestPRrSigstoreSignedIsSignatureAccepted, "A valid signature with a non-matching manifest".
    [Fact]
    public void ModifiedManifestIsRejected()
    {
        var digest = CosignFixtures.ManifestDigest("dir-img-cosign-modified-manifest");

        var result = Verify("dir-img-cosign-modified-manifest", CosignKey);

        Assert.NotEqual(ValidSignatureManifestDigest, digest);
        AssertRejected(result, $"signed payload names digest {ValidSignatureManifestDigest}, not {digest}");
    }

    // TestPRSigstoreSignedIsRunningImageAllowed, "Only non-signature sigstore attachments": rejected.
    [Fact]
    public void OtherAttachmentIsNotASignature()
    {
        var stored = Assert.Single(CosignFixtures.ImageSignatures("dir-img-cosign-other-attachment"));
        var digest = CosignFixtures.ManifestDigest("dir-img-cosign-other-attachment");
        var key = CosignFixtures.Key(CosignKey);

        // CosignSignatureStore only reads simple-signing layers, so the admission path sees no signature at all…
        Assert.NotEqual(SimpleSigningPayload.MediaType, stored.MimeType);
        var found = new[] { stored }.Where(s => s.MimeType == SimpleSigningPayload.MediaType).Select(s => s.Signature).ToList();
        AssertRejected(CosignKeyVerifier.Verify(found, digest, key), CosignKeyVerifier.SignatureNotFound);

        // …and the verifier refuses the attachment even when it is handed over anyway.
        AssertRejected(CosignKeyVerifier.Verify([stored.Signature], digest, key));
    }

    // TestPRrSigstoreSignedIsSignatureAccepted, "Successful key+Rekor use": accepted with keyPaths {cosign2.pub}, and
    // "testKeyImageSig is signed by cosign.pub; the SET contains cosign2.pub" — the key part of this fixture is cosign2.
    [Fact]
    public void KeyRekorImageIsAcceptedByCosign2Key()
    {
        var result = Verify("dir-img-cosign-key-rekor-valid", Cosign2Key);

        AssertAccepted(result);
    }

    // Same test: the key+Rekor fixture was signed by cosign2, so cosign.pub alone must not accept it.
    [Fact]
    public void KeyRekorImageIsRejectedByCosignKey()
    {
        var result = Verify("dir-img-cosign-key-rekor-valid", CosignKey);

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestPRrSigstoreSignedIsSignatureAccepted: every key-signed success case lists cosign.pub; cosign2.pub signs only the
    // key+Rekor fixture. A signature made with one key never verifies under the other.
    [Theory]
    [InlineData("dir-img-cosign-valid")]
    [InlineData("dir-img-cosign-valid-2")]
    [InlineData("dir-img-cosign-mixed")]
    [InlineData("dir-img-cosign-valid-with-tag")]
    public void SignaturesMadeWithCosignKeyAreRejectedByCosign2Key(string image)
    {
        var result = Verify(image, Cosign2Key);

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestVerifySigstorePayload, "Successful verification" of testdata/valid.signature with cosign.pub.
    [Fact]
    public void ValidSignatureFileIsAccepted()
    {
        var signature = CosignFixtures.SignatureFile("valid.signature").Signature;

        var result = CosignKeyVerifier.Verify([signature], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        AssertAccepted(result);
        Assert.Equal(ValidSignatureManifestDigest, CosignFixtures.ManifestDigest("dir-img-cosign-valid"));
    }

    // The cross-check of the previous case: valid.signature is one of cosign.pub's.
    [Fact]
    public void ValidSignatureFileIsRejectedByCosign2Key()
    {
        var signature = CosignFixtures.SignatureFile("valid.signature").Signature;

        var result = CosignKeyVerifier.Verify([signature], ValidSignatureManifestDigest, CosignFixtures.Key(Cosign2Key));

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestPRrSigstoreSignedIsSignatureAccepted, "A valid signature using an unknown key".
    [Theory]
    [InlineData(CosignKey)]
    [InlineData(Cosign2Key)]
    public void UnknownKeySignatureIsRejected(string keyFile)
    {
        var signature = CosignFixtures.SignatureFile("unknown-cosign-key.signature").Signature;

        var result = CosignKeyVerifier.Verify([signature], ValidSignatureManifestDigest, CosignFixtures.Key(keyFile));

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestVerifySigstorePayload, "Valid signature with a wrong manifest digest".
    [Fact]
    public void ValidSignatureForAnotherDigestIsRejected()
    {
        var otherDigest = "sha256:" + new string('0', 64);

        var result = Verify("dir-img-cosign-valid", CosignKey, otherDigest);

        AssertRejected(result, $"signed payload names digest {ValidSignatureManifestDigest}, not {otherDigest}");
    }

    // TestPRSigstoreSignedIsRunningImageAllowed, "No signatures"; the reference page's message.
    [Fact]
    public void NoSignaturesIsSignatureNotFound()
    {
        var result = CosignKeyVerifier.Verify([], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        Assert.False(result.Verified);
        Assert.Equal(CosignKeyVerifier.SignatureNotFound, result.Reason);
    }

    // TestPRrSigstoreSignedIsSignatureAccepted, "Signature has no cryptographic signature".
    [Fact]
    public void SignatureWithoutSignatureAnnotationIsRejected()
    {
        var valid = CosignFixtures.Signatures("dir-img-cosign-valid")[0];
        var stripped = new CosignSignature(valid.Payload, new Dictionary<string, string>());

        var result = CosignKeyVerifier.Verify([stripped], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        Assert.Null(stripped.SignatureBytes);
        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestVerifySigstorePayload, "Invalid base64 encoding": "&", extra padding, truncated.
    [Theory]
    [InlineData("&")]
    [InlineData("extra padding")]
    [InlineData("truncated")]
    public void SignatureAnnotationThatIsNotBase64IsRejected(string variant)
    {
        var valid = CosignFixtures.Signatures("dir-img-cosign-valid")[0];
        var base64 = valid.Annotations[CosignSignature.SignatureAnnotation];
        var broken = variant switch
        {
            "extra padding" => base64 + "=",
            "truncated" => base64[..^1],
            _ => variant,
        };

        var result = CosignKeyVerifier.Verify([WithSignature(valid, broken)], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestVerifySigstorePayload, "Invalid signature": empty, the text "invalid signature", the valid signature twice;
    // TestPRrSigstoreSignedIsSignatureAccepted, "A signature which does not verify".
    [Theory]
    [InlineData("empty")]
    [InlineData("text")]
    [InlineData("doubled")]
    public void SignatureBytesThatDoNotVerifyAreRejected(string variant)
    {
        var valid = CosignFixtures.Signatures("dir-img-cosign-valid")[0];
        var bytes = valid.SignatureBytes!;
        var broken = variant switch
        {
            "empty" => [],
            "text" => Encoding.UTF8.GetBytes("invalid signature"),
            _ => [.. bytes, .. bytes],
        };

        var result = CosignKeyVerifier.Verify([WithSignature(valid, Convert.ToBase64String(broken))], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // TestVerifySigstorePayload, "Valid signature of non-JSON" and "Valid signature of an unacceptable JSON": signatures
    // that do verify under cosign.pub, over payloads that are not a simple-signing claim. The reason's detail shows the
    // signature itself was accepted and the payload refused.
    [Theory]
    [InlineData("&", "MEUCIARnnxZQPALBfqkB4aNAYXad79Qs6VehcrgIeZ8p7I2FAiEAzq2HXwXlz1iJeh+ucUR3L0zpjynQk6Rk0+/gXYp49RU=", "invalid signature: payload is not valid JSON")]
    [InlineData("{}", "MEUCIQDkySOBGxastVP0+koTA33NH5hXjwosFau4rxTPN6g48QIgb7eWKkGqfEpHMM3aT4xiqyP/170jEkdFuciuwN4mux4=", "invalid signature: payload has no 'critical' object")]
    public void VerifiedSignatureOverUnacceptablePayloadIsRejected(string payload, string signatureBase64, string reason)
    {
        var key = CosignFixtures.Key(CosignKey);
        var signature = new CosignSignature(
            Encoding.UTF8.GetBytes(payload),
            new Dictionary<string, string> { [CosignSignature.SignatureAnnotation] = signatureBase64 });

        var result = CosignKeyVerifier.Verify([signature], ValidSignatureManifestDigest, key);

        Assert.True(key.Verify(signature.Payload, signature.SignatureBytes!));
        Assert.False(result.Verified);
        Assert.StartsWith(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TamperedPayloadIsRejected()
    {
        var valid = CosignFixtures.Signatures("dir-img-cosign-valid")[0];
        var payload = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(valid.Payload).Replace("single-sample", "single-sampl3", StringComparison.Ordinal));
        var tampered = new CosignSignature(payload, valid.Annotations);

        var result = CosignKeyVerifier.Verify([tampered], ValidSignatureManifestDigest, CosignFixtures.Key(CosignKey));

        Assert.NotEqual(valid.Payload, payload);
        AssertRejected(result, CosignKeyVerifier.InvalidSignature);
    }

    // The keyless fixtures (TestPRrSigstoreSignedIsSignatureAccepted, "Successful Fulcio certificate use" and "Successful
    // PKI certificate use") are accepted there after chain, identity and Rekor checks that are out of scope here. The one
    // plain key check among them: the signature verifies under the public key of the certificate it carries, and not
    // under either static key.
    [Theory]
    [InlineData("dir-img-cosign-fulcio-rekor-valid")]
    [InlineData("dir-img-cosign-pki-valid")]
    public void CertificateSignatureVerifiesOnlyUnderTheCertificateKey(string image)
    {
        var signature = Assert.Single(CosignFixtures.Signatures(image));
        var digest = CosignFixtures.ManifestDigest(image);
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(signature.Annotations[CosignSignature.CertificateAnnotation]);
        var certificateKey = VerificationKey.FromSubjectPublicKeyInfo(certificate.PublicKey.ExportSubjectPublicKeyInfo(), System.Security.Cryptography.HashAlgorithmName.SHA256);

        AssertAccepted(CosignKeyVerifier.Verify([signature], digest, certificateKey));
        AssertRejected(CosignKeyVerifier.Verify([signature], digest, CosignFixtures.Key(CosignKey)), CosignKeyVerifier.InvalidSignature);
        AssertRejected(CosignKeyVerifier.Verify([signature], digest, CosignFixtures.Key(Cosign2Key)), CosignKeyVerifier.InvalidSignature);
    }

    private static SignatureCheck Verify(string image, string keyFile, string? digest = null) =>
        CosignKeyVerifier.Verify(CosignFixtures.Signatures(image), digest ?? CosignFixtures.ManifestDigest(image), CosignFixtures.Key(keyFile));

    private static CosignSignature WithSignature(CosignSignature template, string signatureBase64)
    {
        var annotations = new Dictionary<string, string>(template.Annotations, StringComparer.Ordinal)
        {
            [CosignSignature.SignatureAnnotation] = signatureBase64,
        };
        return new CosignSignature(template.Payload, annotations);
    }

    private static void AssertAccepted(SignatureCheck result)
    {
        Assert.True(result.Verified, result.Reason);
        Assert.Equal(SignatureCheck.Pass, result);
    }

    /// <summary>Rejected with the reference page's reason: exactly <paramref name="reason"/> when given, else any <c>invalid signature</c>.</summary>
    private static void AssertRejected(SignatureCheck result, string? reason = null)
    {
        Assert.False(result.Verified);
        if (reason is null)
        {
            Assert.StartsWith(CosignKeyVerifier.InvalidSignature, result.Reason, StringComparison.Ordinal);
        }
        else if (reason is CosignKeyVerifier.SignatureNotFound or CosignKeyVerifier.InvalidSignature)
        {
            Assert.Equal(reason, result.Reason);
        }
        else
        {
            Assert.Equal(CosignKeyVerifier.InvalidSignature + ": " + reason, result.Reason);
        }
    }
}

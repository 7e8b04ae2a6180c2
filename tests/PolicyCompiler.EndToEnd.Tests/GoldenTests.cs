using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The scenarios of Kyverno's verifyImages page, each sent through the published webhook and its whole answer compared
/// with a checked-in file under <c>Golden/</c>: the AdmissionReview with its patch decoded, the denial message as the
/// API server prints it, and the value of every verdict annotation. What varies per run (the review's uid, the
/// registry's port, image digests) is replaced by placeholders first. With <c>POLICYCOMPILER_UPDATE_GOLDEN=1</c> the
/// files are rewritten instead; review their diff like code, since a changed byte is a changed message users read.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed partial class GoldenTests(WebhookFixture fixture, ITestOutputHelper output)
{
    public const string UpdateVariable = "POLICYCOMPILER_UPDATE_GOLDEN";

    private const string Namespace = "golden";

    private static readonly JsonSerializerOptions s_pretty = new()
    {
        WriteIndented = true,
        IndentSize = 2,
        // Placeholders are <…>; the file is read by people, not parsed by browsers.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    [Fact]
    public Task SignedImageIsAdmittedAndPinned() =>
        AssertGoldenAsync("key-signed", "signed with the policy's key (the page's first sample)", new TestPod(Namespace, "signed", fixture.SignedImage.TagReference));

    [Fact]
    public Task UnsignedImageIsDenied() =>
        AssertGoldenAsync("key-unsigned", "no signature at all", new TestPod(Namespace, "unsigned", fixture.UnsignedImage.TagReference));

    [Fact]
    public Task ImageSignedBySomeoneElseIsDenied() =>
        AssertGoldenAsync("key-signed-by-someone-else", "signed, but with a key the policy does not hold", new TestPod(Namespace, "signed-other", fixture.OtherKeyImage.TagReference));

    [Fact]
    public Task KeylessSignedImageIsAdmittedAndPinned() =>
        AssertGoldenAsync("keyless-signed", "keyless: Fulcio certificate for the policy's subject and issuer, Rekor bundle, SCT", new TestPod(Namespace, "keyless", fixture.Keyless.IdentityAllowed.Image.TagReference));

    [Fact]
    public Task AttestationWhoseConditionsHoldIsAdmitted() =>
        // The policy's conditions admit Pods labelled app=bundle-cond-ok only (TestPod labels app=<name>).
        AssertGoldenAsync("attestation-pass", "the real cosign v3 attestation; its predicate meets the conditions", new TestPod(Namespace, "bundle-cond-ok", fixture.Bundles.AttestedForConditions.TagReference));

    [Fact]
    public Task AttestationWhoseConditionsFailIsDenied() =>
        AssertGoldenAsync("attestation-fail", "the real cosign v3 attestation; its predicate fails a condition with a message", new TestPod(Namespace, "bundle-strict", fixture.Bundles.AttestedForStrictConditions.TagReference));

    [Fact]
    public Task UnsignedImageUnderAuditIsAdmittedWithAWarning() =>
        AssertGoldenAsync("audit-unsigned", "validationFailureAction: Audit, no signature", new TestPod(Namespace, "audit", fixture.AuditImage.TagReference));

    [Fact]
    public Task UnreachableRegistryUnderFailurePolicyIgnoreIsAdmittedWithAWarning() =>
        AssertGoldenAsync("failure-policy-ignore", "failurePolicy: Ignore, the image's registry refuses connections", new TestPod(Namespace, "unreachable", fixture.UnreachableRegistry + "/e2e/unreachable-app:v1"));

    private async Task AssertGoldenAsync(string name, string description, TestPod pod)
    {
        var result = await fixture.Admission.MutateAsync(pod);
        output.WriteLine(result.Describe());
        Assert.True(result.ResponseJson is not null, "the webhook did not answer with JSON\n" + result.Describe() + "\n" + fixture.Describe());

        var actual = Normalise(Render(description, pod, result), result);
        var fileName = name + ".golden";
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            var directory = Path.Combine(RepositoryPaths.Root, "tests", "PolicyCompiler.EndToEnd.Tests", "Golden");
            Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(Path.Combine(directory, fileName), actual);
            return;
        }

        var path = Path.Combine(AppContext.BaseDirectory, "Golden", fileName);
        Assert.True(File.Exists(path), $"Golden/{fileName} does not exist; run the tests with {UpdateVariable}=1 to create it, then review it");
        var expected = (await File.ReadAllTextAsync(path)).ReplaceLineEndings("\n");
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            var expectedLines = expected.Split('\n');
            var actualLines = actual.Split('\n');
            var line = 0;
            while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line])
            {
                line++;
            }

            Assert.Fail(
                $"the answer differs from Golden/{fileName} at line {line + 1}:\n" +
                $"  expected: {(line < expectedLines.Length ? expectedLines[line] : "<end of file>")}\n" +
                $"  actual:   {(line < actualLines.Length ? actualLines[line] : "<end of file>")}\n" +
                $"whole answer:\n{actual}\n" +
                $"If the change is intended, run the tests with {UpdateVariable}=1 and review the diff of Golden/.");
        }
    }

    /// <summary>The review's answer as a person reads it: the JSON, then the message and annotations unescaped.</summary>
    private static string Render(string description, TestPod pod, AdmissionResult result)
    {
        var text = new StringBuilder();
        text.Append("# ").Append(description).Append('\n');
        text.Append("request: POST ").Append(result.Path).Append(", CREATE Pod ").Append(pod.Namespace).Append('/').Append(pod.Name).Append('\n');
        foreach (var image in pod.Images)
        {
            text.Append("image: ").Append(image).Append('\n');
        }

        text.Append("HTTP ").Append((int)result.HttpStatus).Append('\n');

        var review = result.ResponseJson!.DeepClone().AsObject();
        JsonArray? patch = null;
        if (review["response"] is JsonObject response && result.PatchBase64 is not null)
        {
            // The patch as the API server applies it, not as base64.
            patch = result.Patch;
            response["patch"] = patch?.DeepClone();
        }

        text.Append("\nAdmissionReview (response.patch decoded from base64):\n").Append(review.ToJsonString(s_pretty)).Append('\n');

        if (result.Message is { } message)
        {
            text.Append("\nresponse.status.message:\n").Append(message).Append('\n');
        }

        foreach (var warning in result.Warnings)
        {
            text.Append("\nwarning:\n").Append(warning).Append('\n');
        }

        foreach (var operation in patch ?? [])
        {
            var path = operation?["path"]?.GetValue<string>() ?? string.Empty;
            if (path.StartsWith("/metadata/annotations/", StringComparison.Ordinal) && operation?["value"] is JsonValue value && value.TryGetValue<string>(out var annotation))
            {
                var key = path["/metadata/annotations/".Length..].Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                text.Append("\nannotation ").Append(key).Append(":\n").Append(JsonNode.Parse(annotation)!.ToJsonString(s_pretty)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Placeholders for what changes from run to run; everything else is compared byte for byte. Denial messages fold near
    /// column 80 with the real registry address (127.0.0.1 and an ephemeral port, always five digits), so the folds stay
    /// where they are from run to run even though the placeholder is shorter.
    /// </summary>
    private string Normalise(string text, AdmissionResult result)
    {
        var sentUid = JsonNode.Parse(result.RequestBody)!["request"]!["uid"]!.GetValue<string>();
        text = text.Replace(sentUid, "<uid>", StringComparison.Ordinal);

        // Digests of images pushed per run are named after their repository; the bundle subject's digest is fixed (it
        // is what the real attestation names) and stays as it is.
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var image in new[] { fixture.SignedImage, fixture.UnsignedImage, fixture.OtherKeyImage, fixture.AuditImage, fixture.Keyless.IdentityAllowed.Image })
        {
            named.TryAdd(image.Digest, $"<digest of {image.Repository}>");
        }

        var others = new Dictionary<string, string>(StringComparer.Ordinal);
        text = DigestPattern().Replace(text, match =>
        {
            if (match.Value == CosignV3BundleImages.SubjectDigest)
            {
                return match.Value;
            }

            if (named.TryGetValue(match.Value, out var placeholder))
            {
                return placeholder;
            }

            if (!others.TryGetValue(match.Value, out placeholder))
            {
                placeholder = $"<other digest {others.Count + 1}>";
                others[match.Value] = placeholder;
            }

            return placeholder;
        });

        return text
            .Replace(fixture.UnreachableRegistry, "<unreachable registry>", StringComparison.Ordinal)
            .Replace(fixture.Registry.Host, "<registry>", StringComparison.Ordinal);
    }

    [GeneratedRegex("sha256:[0-9a-f]{64}")]
    private static partial Regex DigestPattern();
}

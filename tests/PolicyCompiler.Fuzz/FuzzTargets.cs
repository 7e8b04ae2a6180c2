extern alias generators;

using System.Text;
using System.Text.Json;
using generators::PolicyCompiler.Generators;
using generators::PolicyCompiler.Generators.Cel;
using generators::PolicyCompiler.Generators.Common;
using generators::PolicyCompiler.Generators.Conditions;
using generators::PolicyCompiler.Generators.Emit;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Notary;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Fuzz;

/// <summary>
/// A broken promise of a parser that did not throw: it answered false without a reason, or a diagnostic points
/// outside the text. Thrown by the harness, so the fuzzer records it as a crash like any escaping exception.
/// </summary>
public sealed class ContractViolationException(string message) : Exception(message);

/// <summary>
/// The fuzz targets, one per surface that reads untrusted or user-written bytes. What counts as a crash, for every
/// target: an exception escaping <see cref="Run"/> (whatever its type, <see cref="ContractViolationException"/>
/// included), a stack overflow or any other death of the process, or one input taking longer than the hang limit
/// (<c>build/fuzz.sh</c>: AFL's <c>-t</c>, then confirmed by a replay with <see cref="HangLimit"/>). The exceptions a
/// target documents as its error answer are caught here and are not crashes; each target says which.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Time one input may take in a replay before it counts as a hang (JIT of a first call included).</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    /// <summary>Larger inputs are cut: every surface has its own size limit in production far below this.</summary>
    public const int MaxInputBytes = 256 * 1024;

    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["image-reference"] = ImageReferenceTarget,
        ["policy-yaml"] = PolicyYamlTarget,
        ["jmespath"] = JmesPathTarget,
        ["cel"] = CelTarget,
        ["dsse"] = DsseTarget,
        ["sigstore-bundle"] = SigstoreBundleTarget,
        ["simple-signing"] = SimpleSigningTarget,
        ["rekor-bundle"] = RekorBundleTarget,
        ["admission-review"] = AdmissionReviewTarget,
        ["notary-envelope"] = NotaryEnvelopeTarget,
    };

    public static void Run(string target, byte[] input)
    {
        if (!All.TryGetValue(target, out var run))
        {
            throw new ArgumentException($"unknown fuzz target '{target}'; known: {string.Join(", ", All.Keys)}", nameof(target));
        }

        run(input.Length > MaxInputBytes ? input[..MaxInputBytes] : input);
    }

    // Text surfaces receive what a YAML file or a JSON string can hold: the bytes decoded as UTF-8, invalid
    // sequences replaced (the compiler and the JSON reader have already done that before these parsers run).
    private static string Text(byte[] input) => Encoding.UTF8.GetString(input);

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ContractViolationException(message);
        }
    }

    /// <summary>
    /// runtime/Images: <c>TryParse</c> never throws and explains every refusal; <c>Parse</c> throws only
    /// <see cref="FormatException"/>, exactly when <c>TryParse</c> refuses; an accepted reference means the same after
    /// a trip through its fully qualified form, and every derived form can be computed.
    /// </summary>
    private static void ImageReferenceTarget(byte[] input)
    {
        var text = Text(input);
        if (!ImageReference.TryParse(text, out var reference, out var error))
        {
            Check(!string.IsNullOrEmpty(error), "TryParse refused without a reason");
            try
            {
                ImageReference.Parse(text);
            }
            catch (FormatException)
            {
                return;
            }

            throw new ContractViolationException("Parse accepted what TryParse refused");
        }

        if (!ImageReference.TryParse(reference.FullyQualified, out var again, out var againError))
        {
            throw new ContractViolationException($"'{reference.FullyQualified}' does not parse again: {againError}");
        }

        // The fully qualified form spells out what was implied (docker.io, library/, latest): the same image.
        Check(
            again.Registry == reference.Registry && again.Repository == reference.Repository && again.EffectiveTag == reference.EffectiveTag
                && again.Digest == reference.Digest && again.FullyQualified == reference.FullyQualified,
            $"'{reference.FullyQualified}' changes meaning on a second parse");
        _ = reference.Canonical;
        _ = reference.KyvernoForm;
        _ = reference.ShortName;
        _ = reference.RegistryEndpoint;
        Check(reference.PatternCandidates.Any(), "no pattern candidate");
        if (reference.Digest is null)
        {
            var pinned = reference.WithDigest("sha256:" + new string('0', 64));
            Check(pinned.Digest is not null, "WithDigest lost the digest");
        }
    }

    /// <summary>
    /// generators/ (parse ▸ validate): a policy file of any content gives policies or diagnostics, never an
    /// exception (the compiler would report a generator crash as warning CS8785 and compile no policy); every
    /// diagnostic lies inside the file; a file without diagnostics can be emitted.
    /// </summary>
    private static void PolicyYamlTarget(byte[] input)
    {
        var text = Text(input);
        var result = PolicyGenerator.Compile(new PolicyFileInput("/fuzz/policies/policy.yaml", "policy.yaml", text));
        foreach (var diagnostic in result.Diagnostics)
        {
            if (diagnostic.Location is { } location)
            {
                Check(location.Span.Start >= 0 && location.Span.End <= text.Length, $"{diagnostic.Descriptor.Id} at {location.Span} outside the file ({text.Length} characters)");
            }

            _ = diagnostic.ToDiagnostic().GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        }

        Check(result.Diagnostics.Count == 0 || result.Policies.Count == 0, "a file with diagnostics still contributed policies");
        foreach (var policy in result.Policies)
        {
            Check(PolicyEmitter.Emit(policy).Length > 0, "empty source for a valid policy");
        }
    }

    /// <summary>
    /// generators/Conditions: any text, as a bare JMESPath expression (both dialects) and as a Kyverno value with
    /// <c>{{ }}</c>, parses to a tree or to diagnostics inside the text, never an exception; a tree can be emitted.
    /// </summary>
    private static void JmesPathTarget(byte[] input)
    {
        var text = Text(input);
        foreach (var dialect in new[] { JmesDialect.Kyverno, JmesDialect.Standard })
        {
            var parsed = JmesCompiler.Parse(text, dialect);
            CheckDiagnostics(parsed.Diagnostics, text, parsed.Success);
            if (parsed.Success)
            {
                Check(JmesCompiler.EmitMethod(parsed.Expression!, dialect, "Fuzz", text).Length > 0, "empty method");
            }
        }

        var template = KyvernoTemplateParser.Parse(text);
        CheckDiagnostics(template.Diagnostics, text, template.Success);
        if (template.Success)
        {
            foreach (var mode in new[] { KyvernoVariableMode.Strict, KyvernoVariableMode.Precondition })
            {
                var writer = new SourceWriter();
                KyvernoEmitter.EmitTemplateMethod(writer, "Fuzz", template.Template!, mode);
                Check(writer.ToString().Length > 0, "empty method");
            }
        }
    }

    private static void CheckDiagnostics(EquatableArray<JmesDiagnostic> diagnostics, string text, bool success)
    {
        Check(success || diagnostics.Count > 0, "refused without a diagnostic");
        foreach (var d in diagnostics)
        {
            // An expression that ends too early is reported on the character after it (one past the text: in a
            // policy, the closing quote or '}}'), so that the squiggle is never empty; nothing reaches further.
            Check(d.Start >= 0 && d.Length >= 1 && d.Start + d.Length <= text.Length + 1, $"{d.Kind} diagnostic at {d.Start}+{d.Length} outside the text ({text.Length} characters)");
            Check(!string.IsNullOrEmpty(d.Message), "diagnostic without a message");
        }
    }

    /// <summary>
    /// generators/Cel: any text, as a webhook match condition, is accepted or refused with one mistake inside the text
    /// (or on the character after it), never an exception or a stack overflow.
    /// </summary>
    private static void CelTarget(byte[] input)
    {
        var text = Text(input);
        if (CelSyntax.Check(text, CelSyntax.WebhookVariables) is { } e)
        {
            Check(e.Start >= 0 && e.Length >= 1 && e.Start + e.Length <= text.Length + 1, $"CEL error at {e.Start}+{e.Length} outside the text ({text.Length} characters)");
            Check(!string.IsNullOrEmpty(e.Message), "CEL error without a message");
        }
    }

    /// <summary>
    /// runtime/Sigstore: a DSSE envelope, and the in-toto statement it carries (or the input itself as a statement),
    /// parse or answer false with a reason; no exception.
    /// </summary>
    private static void DsseTarget(byte[] input)
    {
        if (DsseEnvelope.TryParse(input, out var envelope, out var error))
        {
            _ = DsseEnvelope.PreAuthenticationEncoding(envelope.PayloadType, envelope.Payload);
            Statement(envelope.Payload);
        }
        else
        {
            Check(!string.IsNullOrEmpty(error), "DSSE refused without a reason");
        }

        Statement(input);
    }

    private static void Statement(ReadOnlySpan<byte> json)
    {
        if (!InTotoStatement.TryParse(json, out _, out var error))
        {
            Check(!string.IsNullOrEmpty(error), "in-toto statement refused without a reason");
        }
    }

    /// <summary>runtime/Sigstore/Bundles: a Sigstore bundle (v0.1–v0.3) parses or answers false with a reason.</summary>
    private static void SigstoreBundleTarget(byte[] input)
    {
        if (!SigstoreBundle.TryParse(input, out var bundle, out var error))
        {
            Check(!string.IsNullOrEmpty(error), "bundle refused without a reason");
            return;
        }

        bundle.Certificate?.Dispose();
    }

    /// <summary>runtime/Sigstore: cosign's simple-signing payload parses or answers false with a reason.</summary>
    private static void SimpleSigningTarget(byte[] input)
    {
        if (!SimpleSigningPayload.TryParse(input, out _, out var error))
        {
            Check(!string.IsNullOrEmpty(error), "payload refused without a reason");
        }
    }

    /// <summary>
    /// runtime/Sigstore: cosign's Rekor bundle annotation parses or answers false with a reason; the entry body it
    /// carries is checked against a signature (as a log whose key signed a strange body would make the verifier do)
    /// and answers null or a reason, never an exception.
    /// </summary>
    private static void RekorBundleTarget(byte[] input)
    {
        if (!RekorBundle.TryParse(Text(input), out var bundle, out var error))
        {
            Check(!string.IsNullOrEmpty(error), "Rekor bundle refused without a reason");
            return;
        }

        var hash = new byte[32];
        _ = RekorBundle.CheckBody(bundle.Body, new RekorBundle.LoggedSignature(hash, hash, [1, 2, 3], AdmissionHarness.SignerKeyDer));
    }

    /// <summary>
    /// runtime/Admission and runtime/Engine, as <c>host/AdmissionEndpoints.cs</c> drives them: the body is read as an
    /// AdmissionReview (a <see cref="JsonException"/> is the 400 answer), a review without a request uid or of another
    /// apiVersion is a 400 answer, anything else gets an AdmissionResponse from both passes, whose uid is the
    /// request's and which explains every denial; the answer serialises. Any other exception would be a 500.
    /// </summary>
    private static void AdmissionReviewTarget(byte[] input)
    {
        AdmissionReview? review;
        try
        {
            review = JsonSerializer.Deserialize(input, AdmissionJsonContext.Default.AdmissionReview);
        }
        catch (JsonException)
        {
            return;
        }

        if (review?.Request is not { } request || string.IsNullOrEmpty(request.Uid)
            || (review.ApiVersion is not null && review.ApiVersion != "admission.k8s.io/v1"))
        {
            return;
        }

        foreach (var mutate in new[] { true, false })
        {
            var response = (mutate ? AdmissionHarness.Engine.MutateAsync(request, CancellationToken.None) : AdmissionHarness.Engine.ValidateAsync(request, CancellationToken.None)).GetAwaiter().GetResult();
            Check(response.Uid == request.Uid, "the answer names another uid");
            Check(response.Allowed || !string.IsNullOrEmpty(response.Status?.Message), "a denial without a message");
            Check(!(response.Allowed && response.Patch is not null && !mutate), "the validating pass patched");
            var answer = new AdmissionReview { ApiVersion = "admission.k8s.io/v1", Kind = "AdmissionReview", Response = response };
            _ = JsonSerializer.SerializeToUtf8Bytes(answer, AdmissionJsonContext.Default.AdmissionReview);
        }
    }

    // Built on first use, inside a run: an instrumented product type touched from FuzzTargets' own static
    // constructor would write coverage before SharpFuzz has mapped AFL's shared memory, and kill the fork server.
    private static class NotaryInputs
    {
        // The certificate that signed notation-go's real envelopes (corpus seeds): trusting it lets mutants of them
        // travel the whole verification, past the signature and trust checks, to the validity and target checks.
        public static readonly System.Security.Cryptography.X509Certificates.X509Certificate2[] Trusted =
        [
            System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
                File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "notary", "alpine-signing-cert.pem"))),
        ];

        // One byte off the size the real envelopes sign: a mutant that verified would have forged a signature.
        public static readonly NotaryArtifact Artifact = new(
            "application/vnd.docker.distribution.manifest.v2+json", "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda", 529);

        public static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    }

    /// <summary>
    /// runtime/Notary: a signature envelope as a registry serves it (the first byte chooses the media type: even JWS,
    /// odd COSE) is refused with a reason and never verifies, as no input can be signed for the artifact the harness
    /// asks about; no exception.
    /// </summary>
    private static void NotaryEnvelopeTarget(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        var mediaType = (input[0] & 1) == 0 ? NotaryVerifier.JwsMediaType : NotaryVerifier.CoseMediaType;
        var signature = new NotarySignature(mediaType, input[1..], "sha256:" + new string('0', 64));
        var check = NotaryVerifier.Verify(signature, NotaryInputs.Artifact, NotaryInputs.Trusted, NotaryInputs.Now);
        Check(!check.Verified, "an envelope verified for an artifact nobody signed");
        Check(!string.IsNullOrEmpty(check.Reason), "Notary refused without a reason");
    }
}

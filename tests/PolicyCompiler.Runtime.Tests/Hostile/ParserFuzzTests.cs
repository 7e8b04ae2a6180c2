using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// Mutation fuzzing from fixed seeds (the same inputs on every run, so a failure reproduces): valid documents are
/// damaged a few bytes at a time, and every parser must answer with its documented failure (false with a reason, or
/// the documented exception type), never with another exception. Exceptions that escape a parser of registry content
/// become verification errors, which <c>failurePolicy: Ignore</c> admits; so this is a security property.
/// </summary>
public sealed class ParserFuzzTests
{
    private const int Seed = 20261127;
    private const int Iterations = 3000;

    /// <summary>Fragments that are interesting to JSON readers and base64 and ASN.1 decoders.</summary>
    private static readonly string[] s_fragments =
    [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "null", "true", "0", "-0", "1e999", "-1", "99999999999999999999",
        "\\uD800", "\\uDC00", "\\u0000", "\"\"", "{}", "[]", "==", "AA==", "%", "\u00e9", "\ud83d\ude00", " ", "\n",
    ];

    private static byte[] Mutate(Random random, byte[] seed)
    {
        var bytes = new List<byte>(seed);
        var count = random.Next(1, 5);
        for (var i = 0; i < count; i++)
        {
            var at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(s_fragments[random.Next(s_fragments.Length)]));
                    break;
                case 2 when bytes.Count > 0:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 16)));
                    break;
                case 3 when bytes.Count > 0:
                    var length = Math.Min(bytes.Count - at, random.Next(1, 64));
                    bytes.InsertRange(random.Next(bytes.Count), bytes.GetRange(at, length));
                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                default:
                    // Replace the content of a string value: where most of the parsing decisions are.
                    var quote = bytes.IndexOf((byte)'"', at);
                    if (quote >= 0)
                    {
                        bytes.InsertRange(quote + 1, Encoding.UTF8.GetBytes(s_fragments[random.Next(s_fragments.Length)]));
                    }

                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>Runs <paramref name="parse"/> on mutants of the seeds; fails with the first input that threw otherwise than allowed.</summary>
    private static void Fuzz(string name, IReadOnlyList<byte[]> seeds, Action<byte[]> parse, params Type[] allowed)
    {
        var random = new Random(Seed ^ name.Length);
        var failures = new List<string>();
        var parsed = 0;
        for (var i = 0; i < Iterations; i++)
        {
            var input = Mutate(random, seeds[i % seeds.Count]);
            try
            {
                parse(input);
                parsed++;
            }
            catch (Exception e) when (!allowed.Contains(e.GetType()))
            {
                failures.Add($"{e.GetType().Name}: {e.Message} for base64 input {Convert.ToBase64String(input)}");
            }
            catch (Exception)
            {
                // A documented failure.
            }
        }

        Assert.True(failures.Count == 0, $"{name}: {failures.Count} inputs threw; first: {failures.FirstOrDefault()}");

        // The seeds must have been valid enough to reach past the first byte: a fuzzer that only feeds garbage tests nothing.
        Assert.True(parsed > 0, $"{name}: no input was parsed at all");
    }

    private static byte[] Envelope()
    {
        var statement = new JsonObject
        {
            ["_type"] = InTotoStatement.StatementV1,
            ["predicateType"] = "https://slsa.dev/provenance/v1",
            ["subject"] = new JsonArray(new JsonObject { ["name"] = "app", ["digest"] = new JsonObject { ["sha256"] = new string('a', 64) } }),
            ["predicate"] = new JsonObject { ["builder"] = new JsonObject { ["id"] = "https://builder.test" } },
        }.ToJsonString();
        return Encoding.UTF8.GetBytes(new JsonObject
        {
            ["payloadType"] = DsseEnvelope.InTotoPayloadType,
            ["payload"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(statement)),
            ["signatures"] = new JsonArray(new JsonObject { ["keyid"] = string.Empty, ["sig"] = "MEUCIQDx" }),
        }.ToJsonString());
    }

    private static byte[] Statement() => Convert.FromBase64String(JsonNode.Parse(Envelope())!["payload"]!.GetValue<string>());

    private static IReadOnlyList<CosignSignature> FixtureSignatures() => CosignFixtures.Signatures("dir-img-cosign-key-rekor-valid");

    [Fact]
    public void DsseEnvelopeParserOnlyAnswersFalse()
    {
        Fuzz("dsse", [Envelope()], input => DsseEnvelope.TryParse(input, out _, out _));
    }

    [Fact]
    public void InTotoStatementParserOnlyAnswersFalse()
    {
        Fuzz("in-toto", [Statement()], input => InTotoStatement.TryParse(input, out _, out _));
    }

    [Fact]
    public void SimpleSigningPayloadParserOnlyAnswersFalse()
    {
        Fuzz("simple-signing", [.. FixtureSignatures().Select(s => s.Payload)], input => SimpleSigningPayload.TryParse(input, out _, out _));
    }

    [Fact]
    public void RekorBundleParserOnlyAnswersFalse()
    {
        var bundles = FixtureSignatures().Select(s => Encoding.UTF8.GetBytes(s.Annotations[CosignSignature.BundleAnnotation])).ToList();

        Fuzz("rekor-bundle", bundles, input => RekorBundle.TryParse(Encoding.UTF8.GetString(input), out _, out _));
    }

    /// <summary>
    /// The Rekor entry body is only decoded after the SignedEntryTimestamp verified, which a mutant never does; the
    /// body check is fuzzed directly, as a log whose key signed a strange body would reach it.
    /// </summary>
    [Fact]
    public void RekorEntryBodyCheckOnlyAnswersAReason()
    {
        var signature = FixtureSignatures()[0];
        Assert.True(RekorBundle.TryParse(signature.Annotations[CosignSignature.BundleAnnotation], out var bundle, out _));
        var hash = System.Security.Cryptography.SHA256.HashData(signature.Payload);
        var expected = new RekorBundle.LoggedSignature(hash, hash, signature.SignatureBytes!, CosignFixtures.Key("cosign.pub").SubjectPublicKeyInfo.ToArray());

        // The seed is the real entry, which names the cosign2 key: it passes for that key, so mutants start from a body
        // that reaches every check.
        Assert.Null(RekorBundle.CheckBody(bundle.Body, expected with { DssePayloadSha256 = null, SignerDer = CosignFixtures.Key("cosign2.pub").SubjectPublicKeyInfo.ToArray() }));
        Fuzz("rekor-body", [Convert.FromBase64String(bundle.Body)], input => RekorBundle.CheckBody(Convert.ToBase64String(input), expected));
    }

    [Fact]
    public void SigstoreBundleParserOnlyAnswersFalse()
    {
        var seeds = new List<byte[]> { File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "cosign", "oci-attestation.sigstore.json")) };
        seeds.AddRange(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "TestData", "sigstore-conformance", "bundle-verify"), "bundle.sigstore.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(8).Select(File.ReadAllBytes));

        Fuzz("sigstore-bundle", seeds, input => SigstoreBundle.TryParse(input, out _, out _));
    }

    [Fact]
    public void AdmissionReviewParserOnlyThrowsJsonException()
    {
        var review = Encoding.UTF8.GetBytes("""{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"p","namespace":"default","operation":"CREATE","userInfo":{"username":"admin","uid":"0","groups":["system:authenticated"]},"object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"hostile.test/team/app:v1"}]}},"dryRun":false}}""");

        Fuzz("admission-review", [review], input => JsonSerializer.Deserialize(input, AdmissionJsonContext.Default.AdmissionReview), typeof(JsonException));
    }

    [Fact]
    public async Task EngineAnswersEveryMutatedReviewThatParses()
    {
        using var h = new HostileHarness();
        var review = Encoding.UTF8.GetBytes("""{"request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"default","operation":"CREATE","object":{"metadata":{"name":"p","annotations":{"a":"b"}},"spec":{"initContainers":[{"name":"i","image":"hostile.test/team/init@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],"containers":[{"name":"c","image":"hostile.test/team/app:v1"}]}}}}""");
        var random = new Random(Seed);
        var answered = 0;
        for (var i = 0; i < 400; i++)
        {
            AdmissionRequest? request;
            try
            {
                request = JsonSerializer.Deserialize(Mutate(random, review), AdmissionJsonContext.Default.AdmissionReview)?.Request;
            }
            catch (JsonException)
            {
                continue;
            }

            if (request is null)
            {
                continue;
            }

            var response = await h.Engine.MutateAsync(request, CancellationToken.None);

            // Nothing in these reviews is signed: whatever still names an image must be denied.
            if (response.Allowed)
            {
                Assert.Null(response.Patch);
            }

            answered++;
        }

        Assert.InRange(answered, 50, 400);
    }

    [Fact]
    public void ImageReferenceParserNeverThrowsAndRoundTrips()
    {
        string[] seeds =
        [
            "nginx", "docker.io/library/nginx:1.25", "ghcr.io/org/team/app:v1.2.3-rc.1", "localhost:5000/app@sha256:" + new string('a', 64),
            "[::1]:5000/app:latest", "registry.test/a/b/c:tag@sha256:" + new string('0', 64), "my-registry.local/app_name/x.y-z:TAG",
        ];
        const string Alphabet = "abcxyzABCXYZ0129./:@_-[]+%\u00e9\u0000 \t";
        var random = new Random(Seed);
        var failures = new List<string>();
        var valid = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var seed = seeds[i % seeds.Length].ToCharArray().ToList();
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(seed.Count + 1);
                switch (random.Next(3))
                {
                    case 0:
                        seed.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                        break;
                    case 1 when at < seed.Count:
                        seed.RemoveAt(at);
                        break;
                    default:
                        if (at < seed.Count)
                        {
                            seed[at] = Alphabet[random.Next(Alphabet.Length)];
                        }

                        break;
                }
            }

            var text = new string([.. seed]);
            try
            {
                if (ImageReference.TryParse(text, out var reference, out var error))
                {
                    valid++;

                    // A reference that parses must mean the same after a trip through its fully qualified form (which
                    // spells out the implied registry, library/ and latest).
                    if (!ImageReference.TryParse(reference.FullyQualified, out var again, out var againError)
                        || again.FullyQualified != reference.FullyQualified
                        || again.Registry != reference.Registry
                        || again.Repository != reference.Repository
                        || again.Digest != reference.Digest)
                    {
                        failures.Add($"'{text}' → '{reference.FullyQualified}' does not round-trip: {againError}");
                    }
                }
                else
                {
                    Assert.False(string.IsNullOrEmpty(error));
                    Assert.Throws<FormatException>(() => ImageReference.Parse(text));
                }
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                failures.Add($"'{text}': {e.GetType().Name}: {e.Message}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} failures; first: {failures.FirstOrDefault()}");
        Assert.InRange(valid, 1000, 19_000);
    }
}

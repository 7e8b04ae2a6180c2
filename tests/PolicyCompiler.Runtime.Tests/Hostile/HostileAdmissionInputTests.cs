using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// What the API server (or anyone who can reach the webhook) sends. The host (host/AdmissionEndpoints.cs) caps the
/// body at 4 MiB and answers 400 to a <see cref="JsonException"/>; these tests hold the runtime side to its part of that
/// contract: parsing fails only with <see cref="JsonException"/>, and a parsed review always gets an answer (a denial
/// when something about an image cannot be trusted), never an exception.
/// </summary>
public sealed class HostileAdmissionInputTests : IDisposable
{
    private readonly HostileHarness _h = new();

    public void Dispose() => _h.Dispose();

    private static AdmissionReview? Parse(string json) => JsonSerializer.Deserialize(json, AdmissionJsonContext.Default.AdmissionReview);

    private static AdmissionReview? Parse(byte[] json) => JsonSerializer.Deserialize(json, AdmissionJsonContext.Default.AdmissionReview);

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("\"AdmissionReview\"")]
    [InlineData("{\"request\":[]}")]
    [InlineData("{\"request\":{\"uid\":7}}")]
    [InlineData("{\"request\":{\"uid\":\"a\",\"dryRun\":\"yes\"}}")]
    [InlineData("{\"request\":{\"uid\":\"a\"},}")]
    [InlineData("{\"request\":{\"uid\":\"a\"}} trailing")]
    [InlineData("/* comment */ {\"request\":{\"uid\":\"a\"}}")]
    [InlineData("{\"request\":{\"uid\":\"\\uZZZZ\"}}")]
    [InlineData("{\"request\":{\"userInfo\":{\"groups\":[1]}}}")]
    public void MalformedReviewIsAJsonException(string json)
    {
        Assert.Throws<JsonException>(() => Parse(json));
    }

    [Fact]
    public void InvalidUtf8IsAJsonException()
    {
        byte[] json = [.. "{\"request\":{\"uid\":\""u8, 0xC3, 0x28, .. "\"}}"u8];

        Assert.Throws<JsonException>(() => Parse(json));
    }

    [Theory]
    [InlineData(65)]
    [InlineData(100_000)]
    public void DeeplyNestedObjectIsAJsonException(int depth)
    {
        var json = "{\"request\":{\"uid\":\"a\",\"object\":" + new string('[', depth) + new string(']', depth) + "}}";

        Assert.Throws<JsonException>(() => Parse(json));
    }

    [Fact]
    public void NestingUpToTheLimitIsRead()
    {
        // The control for the depth cases: review (1) → request (2) → object and 61 arrays stay within 64.
        var json = "{\"request\":{\"uid\":\"a\",\"object\":" + new string('[', 61) + new string(']', 61) + "}}";

        Assert.Equal("a", Parse(json)!.Request!.Uid);
    }

    /// <summary>The lone surrogate escape is valid JSON syntax but no string; the API server never sends one.</summary>
    [Fact]
    public void LoneSurrogateInATypedFieldIsAJsonException()
    {
        Assert.Throws<JsonException>(() => Parse("{\"request\":{\"uid\":\"\\uD800\"}}"));
    }

    /// <summary>
    /// The same escape inside the object under review, where only the engine reads it (image, name): the answer is a
    /// refusal (400), not an exception that the host would turn into a 500 (which failurePolicy: Ignore admits).
    /// </summary>
    [Theory]
    [InlineData("\"metadata\":{\"name\":\"pod\\uD800\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"hostile.test/team/app:v1\"}]}")]
    [InlineData("\"metadata\":{\"name\":\"pod\"},\"spec\":{\"containers\":[{\"name\":\"c\\uDC00\",\"image\":\"hostile.test/team/app:v1\"}]}")]
    [InlineData("\"metadata\":{\"name\":\"pod\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"hostile.test/team/app:v1\\uD800\"}]}")]
    public async Task LoneSurrogateInsideTheObjectIsAnAnswerNotAnException(string podBody)
    {
        var json = "{\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":\"default\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\"," + podBody + "}}}";
        var request = Parse(json)!.Request!;

        var response = await _h.Engine.MutateAsync(request, CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Null(response.Patch);
        Assert.Equal(400, response.Status?.Code);
        Assert.StartsWith("the admission request could not be read", response.Status?.Message, StringComparison.Ordinal);
        Assert.Equal("u", response.Uid);
    }

    public static TheoryData<string, string> InvalidImages => new()
    {
        { string.Empty, "empty" },
        { "hostile.test/Team/App:v1", "repository" },
        { "hostile.test/team/app:" + new string('x', 10_000), "longer" },
        { "hostile.test/" + new string('a', 10_000), "longer" },
        { "hostile.test/team/app@sha256:1234", "digest" },
        { "hostile.test/team/app@md5:d41d8cd98f00b204e9800998ecf8427e", "digest" },
        { "hostile.test/team/app:v1\u0000", "tag" },
        { " hostile.test/team/app:v1", string.Empty },
        { "hostile.test/team/../app:v1", string.Empty },
        { "https://hostile.test/team/app:v1", string.Empty },
    };

    [Theory]
    [MemberData(nameof(InvalidImages))]
    public async Task InvalidImageReferenceIsDenied(string image, string reasonFragment)
    {
        var message = Denied(await _h.MutateAsync(image));

        Assert.Contains("invalid image reference", message, StringComparison.Ordinal);
        Assert.Contains(reasonFragment, message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(_h.Registry.Requests);
    }

    [Theory]
    [InlineData("{\"spec\":{\"containers\":{\"image\":\"hostile.test/team/app:v1\"}}}")]
    [InlineData("{\"spec\":{\"containers\":[\"hostile.test/team/app:v1\"]}}")]
    [InlineData("{\"spec\":{\"containers\":null}}")]
    [InlineData("{\"spec\":\"containers\"}")]
    [InlineData("{\"spec\":{\"containers\":[{\"image\":null},{\"image\":42},{\"image\":[\"x\"]}]}}")]
    public async Task ObjectsTheApiServerCouldNotHaveSentAreAnsweredWithoutAnException(string pod)
    {
        // These shapes fail the Pod schema, which the API server applies before any webhook; there is no image to
        // verify in them, so they are allowed here and the API server refuses them itself.
        var response = await _h.Engine.MutateAsync(Request(JsonNode.Parse(pod)!), CancellationToken.None);

        Assert.True(response.Allowed);
        Assert.Empty(_h.Registry.Requests);
    }

    [Fact]
    public async Task ThousandsOfContainersWithUnsignedImagesAreDeniedInBoundedTime()
    {
        var images = Enumerable.Range(0, 3000).Select(i => Image(":t" + i)).ToArray();
        foreach (var i in Enumerable.Range(0, 3000))
        {
            _h.Registry.PushImage(Repository, "t" + i, "v" + i);
        }

        var clock = Stopwatch.StartNew();

        var message = Denied(await _h.MutateAsync(images));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(60));
        Assert.Contains("signature not found", message, StringComparison.Ordinal);
        Assert.Equal(3000, _h.Registry.Count(r => r.IsManifest && r.Reference.StartsWith('t')));
    }

    [Fact]
    public async Task ThousandsOfContainersWithTheSameImageAreVerifiedOnce()
    {
        var digest = _h.Registry.PushImage(Repository, "v1");
        _h.Registry.PushSignature(Repository, digest, _h.Signer);

        var response = await _h.MutateAsync(Enumerable.Repeat(Image(":v1"), 5000).ToArray());

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal(5000, PatchedImages(response).Count);
        Assert.Equal(1, _h.Registry.Count(r => r.IsManifest && r.Reference == "v1"));

        // The harness runs without the verification cache: the signatures must still be read once, not 5000 times.
        Assert.Equal(1, _h.Registry.Count(r => r.IsManifest && r.Reference == Runtime.Sigstore.CosignSignatureStore.SignatureTag(digest)));
    }

    [Fact]
    public async Task HugeObjectWithAnUnsignedImageIsStillDenied()
    {
        // 3 MiB of annotations, as large as the API server lets an object be; the host refuses more than 4 MiB.
        var pod = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "big", ["annotations"] = new JsonObject { ["filler"] = new string('x', 3 * 1024 * 1024) } },
            ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "c", ["image"] = Image(":v1") }) },
        };
        _h.Registry.PushImage(Repository, "v1");

        var message = Denied(await _h.Engine.MutateAsync(Request(pod), CancellationToken.None));

        Assert.Contains("signature not found", message, StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(message) < 64 * 1024, "the denial must not echo the object");
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// Requests the API server never sends, through the published webhook over HTTPS (issue 9): too large, too deep, too
/// many containers, invalid images, the wrong content type, truncated, not JSON. Each gets a clear answer (an HTTP
/// status, or an AdmissionReview that denies), and a normal review right after is still decided correctly.
/// Expected answers are listed in the README's "Hostile transport" table.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class RequestLimitTests(WebhookFixture fixture, ITestOutputHelper output)
{
    private const string Namespace = "e2e";

    [Fact]
    public async Task BodyDeclaredOverTheSizeLimitIsRefusedWith413BeforeItIsSent()
    {
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        await connection.WriteAsync($"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n");

        var response = await connection.ReadResponseAsync(TimeSpan.FromSeconds(20));

        output.WriteLine(response.ToString());
        Assert.True(response.Status == 413, response + "\n" + fixture.Describe());
        await StillServing.AssertAsync(fixture, output, "after-413");
    }

    [Fact]
    public async Task ChunkedBodyGrowingOverTheSizeLimitIsRefusedWith413()
    {
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        await connection.WriteAsync("POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        var reading = connection.ReadResponseAsync(TimeSpan.FromSeconds(30));

        // A valid JSON prefix, then one long string: 6 MiB in 64 KiB chunks, until the server answers or stops reading.
        var chunk = new byte[64 * 1024];
        chunk.AsSpan().Fill((byte)'a');
        var chunkHead = Encoding.ASCII.GetBytes(chunk.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n");
        var crlf = "\r\n"u8.ToArray();
        var prefix = """{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big","object":{"x":" """u8.ToArray();
        var sent = 0L;
        try
        {
            await connection.WriteAsync(Encoding.ASCII.GetBytes(prefix.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n").Concat(prefix).Concat(crlf).ToArray());
            for (var i = 0; i < 96 && !reading.IsCompleted; i++)
            {
                await connection.WriteAsync(chunkHead.Concat(chunk).Concat(crlf).ToArray());
                sent += chunk.Length;
            }
        }
        catch (IOException)
        {
            // The server may close its side once it has answered; what it answered is read below.
        }

        var response = await reading;

        output.WriteLine($"sent {sent} bytes of body; {response}");
        Assert.True(response.Status == 413, response + "\n" + fixture.Describe());
        await StillServing.AssertAsync(fixture, output, "after-chunked-413");
    }

    [Fact]
    public async Task DeeplyNestedJsonIsRefusedWith400()
    {
        const int depth = 10_000;
        var body = """{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep","object":""" + new string('[', depth) + new string(']', depth) + "}}";

        var (status, answer) = await fixture.Admission.PostRawAsync("/mutate", body);

        Assert.True(status == HttpStatusCode.BadRequest, $"answered {(int)status}: {answer}\n{fixture.Describe()}");
        Assert.Contains("not a valid AdmissionReview", answer, StringComparison.Ordinal);
        await StillServing.AssertAsync(fixture, output, "after-deep");
    }

    [Fact]
    public async Task NestingWithinTheDepthLimitIsAnsweredAsAReview()
    {
        // The review's own levels (review, request, object, metadata, annotations-like map) plus 50 of the object's.
        var pod = new TestPod(Namespace, "nested", fixture.SignedImage.TagReference).ToJson();
        JsonNode nested = new JsonObject();
        for (var i = 0; i < 50; i++)
        {
            nested = new JsonObject { ["n"] = nested };
        }

        pod["spec"]!["overhead"] = nested;

        var result = await fixture.Admission.ReviewAsync("/mutate", AdmissionClient.Review(pod));

        output.WriteLine($"HTTP {(int)result.HttpStatus}, allowed={result.Allowed}");
        Assert.True(result.HttpStatus == HttpStatusCode.OK && result.Allowed == true, result.Describe() + "\n" + fixture.Describe());
    }

    [Fact]
    public async Task ThousandsOfContainersAreAllVerifiedAndPinnedInBoundedTime()
    {
        const int containers = 3000;
        var pod = new TestPod(Namespace, "many", [.. Enumerable.Repeat(fixture.SignedImage.TagReference, containers - 1), fixture.UnmatchedImage.TagReference]);
        var stopwatch = Stopwatch.StartNew();

        var result = await fixture.Admission.MutateAsync(pod);

        output.WriteLine($"{containers} containers, {result.RequestBody.Length} bytes: HTTP {(int)result.HttpStatus} in {stopwatch.ElapsedMilliseconds} ms");
        Assert.True(result.HttpStatus == HttpStatusCode.OK && result.Allowed == true, result.ResponseBody[..Math.Min(2000, result.ResponseBody.Length)] + "\n" + fixture.Describe());
        var pinned = result.PatchOperations.Count(o => o.Path.EndsWith("/image", StringComparison.Ordinal) && o.StringValue == fixture.SignedImage.PinnedReference);
        Assert.Equal(containers - 1, pinned);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"took {stopwatch.Elapsed}, past the webhook timeout");

        // One unsigned image among them denies the whole Pod.
        var denied = await fixture.Admission.MutateAsync(new TestPod(Namespace, "many-unsigned", [.. Enumerable.Repeat(fixture.SignedImage.TagReference, containers - 1), fixture.UnsignedImage.TagReference]));
        Assert.True(denied.HttpStatus == HttpStatusCode.OK && denied.Allowed == false, denied.ResponseBody[..Math.Min(2000, denied.ResponseBody.Length)]);
        Assert.Contains("signature not found", denied.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> InvalidImages() => new()
    {
        { "empty", string.Empty },
        { "uppercase repository", "127.0.0.1:5000/e2e/Signed-App:v1" },
        { "short digest", "127.0.0.1:5000/e2e/signed-app@sha256:abc" },
        { "10 000 characters", "127.0.0.1:5000/e2e/signed-" + new string('a', 10_000) + ":v1" },
        { "space", "127.0.0.1:5000/e2e/signed app:v1" },
        { "NUL", "127.0.0.1:5000/e2e/signed-app\0:v1" },
        { "URL", "https://127.0.0.1:5000/e2e/signed-app:v1" },
    };

    [Theory]
    [MemberData(nameof(InvalidImages))]
    public async Task InvalidImageReferenceIsDeniedInAnAnswer(string label, string image)
    {
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "invalid-image", image));

        output.WriteLine($"{label}: HTTP {(int)result.HttpStatus}, allowed={result.Allowed}, message={result.Message?[..Math.Min(300, result.Message.Length)]}");
        Assert.True(result.HttpStatus == HttpStatusCode.OK, result.Describe());
        Assert.True(result.Allowed == false, result.Describe());
        Assert.Contains("invalid image reference", result.MessageText, StringComparison.Ordinal);
        Assert.Null(result.PatchBase64);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/yaml")]
    public async Task WrongContentTypeIsRefusedWith415(string contentType)
    {
        var review = AdmissionClient.Review(new TestPod(Namespace, "content-type", fixture.UnsignedImage.TagReference).ToJson()).ToJsonString();

        var (status, body) = await fixture.Admission.PostRawAsync("/mutate", review, contentType);

        Assert.True(status == HttpStatusCode.UnsupportedMediaType, $"{contentType} answered {(int)status}: {body}");
        Assert.Contains("application/json", body, StringComparison.Ordinal);
        await StillServing.AssertAsync(fixture, output, "after-415");
    }

    [Fact]
    public async Task MissingContentTypeIsRefusedWith415()
    {
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        await connection.WriteAsync("POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}");

        var response = await connection.ReadResponseAsync(TimeSpan.FromSeconds(20));

        Assert.True(response.Status == 415, response.ToString());
    }

    [Fact]
    public async Task BodyEndingBeforeItsContentLengthIsRefusedWith400()
    {
        var review = AdmissionClient.Review(new TestPod(Namespace, "truncated", fixture.UnsignedImage.TagReference).ToJson()).ToJsonString();
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        await connection.WriteAsync($"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {review.Length}\r\n\r\n{review[..(review.Length / 2)]}");

        // TLS close_notify, then FIN: the body ends here, and the connection can still carry the answer back.
        await ((System.Net.Security.SslStream)connection.Stream).ShutdownAsync();
        connection.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var response = await connection.ReadResponseAsync(TimeSpan.FromSeconds(20));

        output.WriteLine(response.ToString());
        Assert.True(response.Status == 400 || (response.Status is null && response.ClosedByServer), response.ToString());
        await StillServing.AssertAsync(fixture, output, "after-truncated");
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("<AdmissionReview/>")]
    [InlineData("\"a JSON string\"")]
    [InlineData("[]")]
    [InlineData("\u00ff\u00fe\u0000garbage")]
    public async Task BodyThatIsNotAnAdmissionReviewIsRefusedWith400(string body)
    {
        var (status, answer) = await fixture.Admission.PostRawAsync("/validate", body);

        Assert.True(status == HttpStatusCode.BadRequest, $"answered {(int)status}: {answer}");
        await StillServing.AssertAsync(fixture, output, "after-not-json");
    }
}

/// <summary>The check after each hostile request: a normal review is still decided correctly, by the same process.</summary>
internal static class StillServing
{
    public static async Task AssertAsync(WebhookFixture fixture, ITestOutputHelper output, string podName)
    {
        var pid = fixture.Host.ProcessId;
        var stopwatch = Stopwatch.StartNew();
        var result = await fixture.Admission.MutateAsync(new TestPod("e2e", podName, fixture.SignedImage.TagReference));
        output.WriteLine($"normal review after: HTTP {(int)result.HttpStatus}, allowed={result.Allowed} in {stopwatch.ElapsedMilliseconds} ms");

        Assert.False(fixture.Host.HasExited, fixture.Describe());
        Assert.Equal(pid, fixture.Host.ProcessId);

        // A fault the host did not handle shows as Kestrel's "unhandled exception" (and a 500), even when it survives.
        var unhandled = fixture.Host.Log.Split('\n').FirstOrDefault(l => l.Contains("unhandled exception", StringComparison.OrdinalIgnoreCase));
        Assert.True(unhandled is null, "the webhook logged an unhandled exception:\n" + unhandled);
        Assert.True(result.HttpStatus == HttpStatusCode.OK && result.Allowed == true, "a normal review after the fault was not admitted\n" + result.Describe() + "\n" + fixture.Describe());
        Assert.Contains(result.PatchOperations, o => o.StringValue == fixture.SignedImage.PinnedReference);
    }
}

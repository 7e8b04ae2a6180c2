using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// TLS and HTTP faults against the published webhook (issue 9: fail closed, stay up): garbage instead of a
/// ClientHello, handshakes abandoned, plain HTTP on the HTTPS port, idle connections by the hundred, slowloris headers
/// and bodies, resets mid-request; HTTP/2; and a registry that never answers. After each, a normal review is still
/// decided by the same process. The limits these rely on are the host's <c>TransportLimits</c>.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class TransportFaultTests(WebhookFixture fixture, ITestOutputHelper output)
{
    /// <summary>The host's RequestHeadersTimeout and HandshakeTimeout (host/TransportLimits.cs).</summary>
    private static readonly TimeSpan ServerTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Kestrel checks its timeouts on a one-second heartbeat; a loaded machine adds more.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(4);

    public const string StallFailPolicy = "e2e-stall-fail";
    public const string StallIgnorePolicy = "e2e-stall-ignore";
    public const string StallNamespace = "e2e-stall";
    public const int StallTimeoutSeconds = 5;

    /// <summary>
    /// Two policies with a 5 s webhookTimeoutSeconds, Fail and Ignore, for images of a registry that never answers.
    /// They match only the <see cref="StallNamespace"/> namespace: the review's deadline is the shortest timeout of the
    /// policies that apply, which must not shorten the other tests' reviews.
    /// </summary>
    public static IEnumerable<(string Name, string Yaml)> StallPolicies(string publicKeyPem)
    {
        foreach (var (name, failurePolicy, repository) in new[] { (StallFailPolicy, "Fail", "stall-fail"), (StallIgnorePolicy, "Ignore", "stall-ignore") })
        {
            yield return (name, $"""
                apiVersion: kyverno.io/v1
                kind: ClusterPolicy
                metadata:
                  name: {name}
                spec:
                  validationFailureAction: Enforce
                  failurePolicy: {failurePolicy}
                  webhookTimeoutSeconds: {StallTimeoutSeconds}
                  rules:
                    - name: check-signature
                      match:
                        any:
                        - resources:
                            kinds: [Pod]
                            namespaces: [{StallNamespace}]
                      verifyImages:
                      - imageReferences: ["127.0.0.1:*/{repository}/*"]
                        attestors:
                        - entries:
                          - keys:
                              rekor: {"{"}ignoreTlog: true{"}"}
                              publicKeys: |-
                {string.Join("\n", publicKeyPem.Trim().Split('\n').Select(l => "                  " + l))}
                """);
        }
    }

    [Theory]
    [InlineData("Fail")]
    [InlineData("Ignore")]
    public async Task RegistryThatNeverAnswersGetsTheFailurePolicysVerdictWithinTheWebhookTimeout(string failurePolicy)
    {
        using var stalling = new StallingRegistry();
        var repository = failurePolicy == "Fail" ? "stall-fail" : "stall-ignore";
        var pod = new TestPod(StallNamespace, "stalled-" + failurePolicy.ToLowerInvariant(), $"{stalling.Host}/{repository}/app:v1");
        var stopwatch = Stopwatch.StartNew();

        var result = await fixture.Admission.MutateAsync(pod);

        stopwatch.Stop();
        output.WriteLine($"{failurePolicy}: answered in {stopwatch.ElapsedMilliseconds} ms after {stalling.Connections} connection(s) to the stalling registry\n{result.Describe()}");
        Assert.True(result.HttpStatus == HttpStatusCode.OK, result.Describe());
        Assert.True(stalling.Connections > 0, "the webhook never tried the registry");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(StallTimeoutSeconds), $"answered after {stopwatch.Elapsed}, past webhookTimeoutSeconds {StallTimeoutSeconds}: the API server would already have applied its failurePolicy");
        if (failurePolicy == "Fail")
        {
            Assert.True(result.Allowed == false, result.Describe());
            Assert.Contains($"deadline of {StallTimeoutSeconds}s exceeded", result.MessageText, StringComparison.Ordinal);
        }
        else
        {
            Assert.True(result.Allowed == true, result.Describe());
            Assert.Contains(result.Warnings, w => w.Contains("deadline", StringComparison.Ordinal));
            Assert.Null(result.PatchBase64);
        }

        await StillServing.AssertAsync(fixture, output, "after-stall");
    }

    [Fact]
    public async Task GarbageInsteadOfAClientHelloIsDisconnected()
    {
        await using var connection = await RawConnection.OpenTcpAsync(fixture.Host.Port);
        await connection.WriteAsync(RandomNumberGenerator.GetBytes(4096));

        var response = await connection.ReadResponseAsync(ServerTimeout + Slack);

        output.WriteLine(response.ToString());
        Assert.True(response.ClosedByServer && response.Status is null, response.ToString());
        await StillServing.AssertAsync(fixture, output, "after-garbage");
    }

    [Fact]
    public async Task HandshakeAbandonedHalfwayThroughTheClientHelloIsClosedAtTheHandshakeTimeout()
    {
        var hello = await RawConnection.CaptureClientHelloAsync(fixture.Certificate);
        await using var connection = await RawConnection.OpenTcpAsync(fixture.Host.Port);
        await connection.WriteAsync(hello.AsMemory(0, hello.Length / 2));

        var response = await connection.ReadResponseAsync(ServerTimeout + Slack);

        output.WriteLine($"ClientHello of {hello.Length} bytes, sent {hello.Length / 2}: {response}");
        Assert.True(response.ClosedByServer, response.ToString());
        Assert.True(response.Elapsed >= ServerTimeout - TimeSpan.FromSeconds(1), "closed before the handshake timeout: " + response);
        await StillServing.AssertAsync(fixture, output, "after-half-hello");
    }

    [Fact]
    public async Task HandshakeResetAfterTheServerHelloLeavesTheWebhookServing()
    {
        var hello = await RawConnection.CaptureClientHelloAsync(fixture.Certificate);
        for (var i = 0; i < 20; i++)
        {
            var connection = await RawConnection.OpenTcpAsync(fixture.Host.Port);
            await connection.WriteAsync(hello);
            var buffer = new byte[5];
            var read = await connection.Stream.ReadAsync(buffer);
            Assert.True(read > 0 && buffer[0] == 0x16, "the server did not answer the ClientHello with a handshake record");
            connection.Reset();
            await connection.DisposeAsync();
        }

        await StillServing.AssertAsync(fixture, output, "after-handshake-reset");
    }

    [Fact]
    public async Task PlainHttpOnTheHttpsPortGetsNoAnswerAndIsClosed()
    {
        await using var connection = await RawConnection.OpenTcpAsync(fixture.Host.Port);
        var review = AdmissionClient.Review(new TestPod("e2e", "plain-http", fixture.UnsignedImage.TagReference).ToJson()).ToJsonString();
        await connection.WriteAsync($"POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {review.Length}\r\n\r\n{review}");

        var response = await connection.ReadResponseAsync(ServerTimeout + Slack);

        output.WriteLine(response.ToString());
        Assert.True(response.ClosedByServer, response.ToString());
        Assert.True(response.Status is null or >= 400, "a plain-HTTP request was served: " + response);
        await StillServing.AssertAsync(fixture, output, "after-plain-http");
    }

    [Fact]
    public async Task HundredsOfIdleConnectionsNeitherBlockReviewsNorStayOpen()
    {
        const int silent = 500;
        const int idleTls = 50;
        var connections = new List<RawConnection>();
        try
        {
            for (var i = 0; i < silent; i++)
            {
                connections.Add(await RawConnection.OpenTcpAsync(fixture.Host.Port));
            }

            for (var i = 0; i < idleTls; i++)
            {
                connections.Add(await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate));
            }

            var opened = Stopwatch.StartNew();
            await StillServing.AssertAsync(fixture, output, "among-idle");
            output.WriteLine($"{silent} silent TCP and {idleTls} idle TLS connections open; review answered in {opened.ElapsedMilliseconds} ms");

            // The silent ones never started a handshake: the handshake timeout closes every one of them.
            var closes = await Task.WhenAll(connections.Take(silent).Select(c => c.ReadResponseAsync(ServerTimeout + Slack + Slack)));
            var open = closes.Count(r => !r.ClosedByServer);
            output.WriteLine($"{silent - open} of {silent} silent connections closed by the server, the last after {closes.Max(r => r.Elapsed).TotalSeconds:F1} s");
            Assert.Equal(0, open);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        await StillServing.AssertAsync(fixture, output, "after-idle");
    }

    [Fact]
    public async Task HeadersTrickledSlowlyAreCutAtTheRequestHeadersTimeout()
    {
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        var reading = connection.ReadResponseAsync(ServerTimeout + Slack + Slack);
        await connection.WriteAsync("POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        var stopwatch = Stopwatch.StartNew();
        var trickled = 0;
        try
        {
            // One header line per second, forever: a slowloris never finishes its request head.
            while (!reading.IsCompleted && stopwatch.Elapsed < ServerTimeout + Slack + Slack)
            {
                await connection.WriteAsync($"X-Slow-{trickled++}: a\r\n");
                await Task.WhenAny(reading, Task.Delay(1000));
            }
        }
        catch (IOException)
        {
        }

        var response = await reading;

        output.WriteLine($"trickled {trickled} header lines: {response}");
        Assert.True(response.ClosedByServer || response.Status == 408, response.ToString());
        Assert.True(response.Status is null or 408, response.ToString());
        Assert.True(response.Elapsed < ServerTimeout + Slack, "the trickle was not cut at the headers timeout: " + response);
        await StillServing.AssertAsync(fixture, output, "after-slow-headers");
    }

    [Fact]
    public async Task BodyTrickledSlowlyIsAnsweredWith408()
    {
        await using var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
        var reading = connection.ReadResponseAsync(ServerTimeout + Slack + Slack);
        await connection.WriteAsync("POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
        var stopwatch = Stopwatch.StartNew();
        try
        {
            while (!reading.IsCompleted && stopwatch.Elapsed < ServerTimeout + Slack + Slack)
            {
                await connection.WriteAsync(" ");
                await Task.WhenAny(reading, Task.Delay(500));
            }
        }
        catch (IOException)
        {
        }

        var response = await reading;

        output.WriteLine(response.ToString());
        Assert.True(response.Status == 408, response.ToString());
        Assert.True(response.Elapsed < ServerTimeout + Slack, response.ToString());
        await StillServing.AssertAsync(fixture, output, "after-slow-body");
    }

    [Fact]
    public async Task ResetsMidRequestLeaveTheWebhookServing()
    {
        var review = AdmissionClient.Review(new TestPod("e2e", "reset", fixture.UnsignedImage.TagReference).ToJson()).ToJsonString();
        for (var i = 0; i < 20; i++)
        {
            var connection = await RawConnection.OpenTlsAsync(fixture.Host.Port, fixture.Certificate);
            var cut = i % 2 == 0 ? review.Length / 2 : review.Length;
            await connection.WriteAsync($"POST /{(i % 4 < 2 ? "mutate" : "validate")} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {review.Length}\r\n\r\n{review[..cut]}");

            // Half the resets come mid-body, half after a complete request, while the webhook verifies it.
            connection.Reset();
            await connection.DisposeAsync();
        }

        await StillServing.AssertAsync(fixture, output, "after-resets");
    }

    [Fact]
    public async Task ReviewOverHttp2IsAnsweredAsOverHttp11()
    {
        using var http2 = new HttpClient(fixture.Certificate.CreatePinnedHandler(), disposeHandler: true)
        {
            BaseAddress = fixture.Host.BaseUri,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var pod = new TestPod("e2e", "over-h2", fixture.SignedImage.TagReference);
        var body = AdmissionClient.Review(pod.ToJson()).ToJsonString();

        using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var response = await http2.PostAsync(new Uri("mutate", UriKind.Relative), content);
        var answer = new AdmissionResult("/mutate", body, response.StatusCode, await response.Content.ReadAsStringAsync());

        output.WriteLine($"HTTP/{response.Version}: {answer.Describe()}");
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.True(answer.HttpStatus == HttpStatusCode.OK && answer.Allowed == true, answer.Describe());
        Assert.Equal(JsonNode.Parse(body)!["request"]!["uid"]!.GetValue<string>(), answer.Uid);
        Assert.Contains(answer.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == fixture.SignedImage.PinnedReference);

        // The unsigned image is denied over HTTP/2 as well.
        using var deniedContent = new StringContent(AdmissionClient.Review(new TestPod("e2e", "over-h2-unsigned", fixture.UnsignedImage.TagReference).ToJson()).ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var denied = await http2.PostAsync(new Uri("validate", UriKind.Relative), deniedContent);
        var deniedBody = await denied.Content.ReadAsStringAsync();
        Assert.Equal(HttpVersion.Version20, denied.Version);
        Assert.False(JsonNode.Parse(deniedBody)!["response"]!["allowed"]!.GetValue<bool>(), deniedBody);
    }
}

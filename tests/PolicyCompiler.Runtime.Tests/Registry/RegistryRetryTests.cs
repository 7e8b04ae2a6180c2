using System.Net;
using System.Net.Http.Headers;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// Which failures are retried (429, 5xx, dropped connections, bodies cut short), how long the client waits
/// (exponential backoff, <c>Retry-After</c>), and where it stops (attempt limit, the caller's deadline).
/// The waits are recorded through the client's delay hook, not slept.
/// </summary>
public sealed class RegistryRetryTests
{
    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task TransientStatusIsRetriedUntilTheRegistryAnswers(HttpStatusCode status)
    {
        var delays = new List<TimeSpan>();
        var fake = new FakeRegistryHandler().On(IsManifest, (_, hit) => hit < 3 ? FakeRegistryHandler.Status(status) : FakeRegistryHandler.Ok(Manifest));
        using var client = Client(fake, delays: delays);

        var manifest = await GetManifest(client);

        Assert.Equal(ManifestDigest, manifest.Digest);
        Assert.Equal(3, fake.Requests.Count);
        Assert.Equal(2, delays.Count);
    }

    [Fact]
    public async Task RetryAfterInSecondsIsHonoured()
    {
        var delays = new List<TimeSpan>();
        var fake = new FakeRegistryHandler().On(IsManifest, (_, hit) => hit == 1 ? FakeRegistryHandler.Status(HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(3)) : FakeRegistryHandler.Ok(Manifest));
        using var client = Client(fake, delays: delays);

        await GetManifest(client);

        Assert.Equal([TimeSpan.FromSeconds(3)], delays);
    }

    [Fact]
    public async Task RetryAfterAsADateIsHonoured()
    {
        var time = new FakeTimeProvider();
        var delays = new List<TimeSpan>();
        var fake = new FakeRegistryHandler().On(IsManifest, (_, hit) =>
        {
            if (hit > 1)
            {
                return FakeRegistryHandler.Ok(Manifest);
            }

            var response = FakeRegistryHandler.Status(HttpStatusCode.ServiceUnavailable);
            response.Headers.RetryAfter = new RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(2));
            return response;
        });
        using var client = Client(fake, time: time, delays: delays);

        await GetManifest(client);

        Assert.Equal([TimeSpan.FromSeconds(2)], delays);
    }

    [Fact]
    public async Task RetryAfterLongerThanTheLimitIsNotWaitedFor()
    {
        var delays = new List<TimeSpan>();
        var fake = new FakeRegistryHandler().On(IsManifest, _ => FakeRegistryHandler.Status(HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(120)));
        using var client = Client(fake, delays: delays);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.True(error.IsTransient);
        Assert.Equal($"registry {Host} answered 429 Too Many Requests for manifest {Repository}:v1; it asked to retry after 120s, longer than Registry:MaxRetryDelay", error.Message);
        Assert.Single(fake.Requests);
        Assert.Empty(delays);
    }

    [Fact]
    public async Task AttemptsAreLimited()
    {
        var delays = new List<TimeSpan>();
        var fake = new FakeRegistryHandler().On(IsManifest, _ => FakeRegistryHandler.Status(HttpStatusCode.ServiceUnavailable));
        using var client = Client(fake, configure: o => o.MaxAttempts = 3, delays: delays);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.Equal(3, fake.Requests.Count);
        Assert.Equal(2, delays.Count);
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Forbidden)]
    [InlineData(HttpStatusCode.NotImplemented)]
    public async Task AnswersThatWillNotChangeAreNotRetried(HttpStatusCode status)
    {
        var fake = new FakeRegistryHandler().On(IsManifest, _ => FakeRegistryHandler.Status(status));
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(status, error.StatusCode);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task ResetConnectionIsRetried()
    {
        var fake = new FakeRegistryHandler().On(IsManifest, (_, hit) => hit == 1 ? throw FakeRegistryHandler.ConnectionReset() : FakeRegistryHandler.Ok(Manifest));
        using var client = Client(fake);

        var manifest = await GetManifest(client);

        Assert.Equal(ManifestDigest, manifest.Digest);
        Assert.Equal(2, fake.Requests.Count);
    }

    [Fact]
    public async Task BodyCutShortIsFetchedAgain()
    {
        var fake = new FakeRegistryHandler().On(IsBlob, (_, hit) => hit == 1 ? FakeRegistryHandler.BrokenBody(Blob) : FakeRegistryHandler.Ok(Blob));
        using var client = Client(fake);

        var blob = await GetBlob(client);

        Assert.Equal(Blob, blob);
        Assert.Equal(2, fake.Requests.Count);
    }

    [Fact]
    public async Task UnresolvableNameIsNotRetried()
    {
        var fake = new FakeRegistryHandler().On(_ => true, _ => throw new HttpRequestException(HttpRequestError.NameResolutionError, "Name or service not known"));
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task TlsFailureIsNotRetriedAndIsNotTransient()
    {
        var fake = new FakeRegistryHandler().On(_ => true, _ => throw new HttpRequestException(HttpRequestError.SecureConnectionError, "The SSL connection could not be established", new System.Security.Authentication.AuthenticationException("The remote certificate is invalid")));
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.TlsFailure, error.Failure);
        Assert.False(error.IsTransient);
        Assert.StartsWith($"TLS handshake with registry {Host} failed:", error.Message, StringComparison.Ordinal);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task ContentWithTheWrongDigestIsNotRetried()
    {
        var fake = new FakeRegistryHandler().On(IsBlob, _ => FakeRegistryHandler.Ok(Manifest));
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetBlob(client));

        Assert.Equal(RegistryFailure.InvalidResponse, error.Failure);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task TokenEndpointOutageIsRetriedForGetsButARefreshTokenPostIsNot()
    {
        const string challenge = """realm="https://auth.registry.test/token",service="registry.test" """;
        var get = new FakeRegistryHandler()
            .On(r => r.Uri.Authority == "auth.registry.test", (_, hit) => hit == 1 ? FakeRegistryHandler.Status(HttpStatusCode.BadGateway) : FakeRegistryHandler.Json("""{"token":"t"}"""))
            .On(r => r.Authorization is not null, _ => FakeRegistryHandler.Ok(Manifest))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", challenge));
        using (var client = Client(get))
        {
            await GetManifest(client);
            Assert.Equal(2, get.To("auth.registry.test").Count);
        }

        var post = new FakeRegistryHandler()
            .On(r => r.Uri.Authority == "auth.registry.test", _ => FakeRegistryHandler.Status(HttpStatusCode.BadGateway))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", challenge));
        using (var client = Client(post, new FixedCredentials(Host, new RegistryCredential(null, null, identityToken: "refresh"))))
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));
            Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
            Assert.Single(post.To("auth.registry.test"));
        }
    }

    [Fact]
    public async Task DeadlineDuringBackoffEndsTheRetriesWithTheRegistrysAnswer()
    {
        var fake = new FakeRegistryHandler().On(IsManifest, _ => FakeRegistryHandler.Status(HttpStatusCode.ServiceUnavailable));
        using var client = Client(fake);
        using var deadline = new CancellationTokenSource();
        client.DelayAsync = async (_, cancellationToken) =>
        {
            await deadline.CancelAsync();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        };

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Host, Repository, "v1", deadline.Token));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.Equal($"registry {Host} answered 503 Service Unavailable for manifest {Repository}:v1 (attempt 1; the admission deadline came before the next retry)", error.Message);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task CancelledCallerIsNotRetried()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var fake = new FakeRegistryHandler().On(_ => true, _ => FakeRegistryHandler.Ok(Manifest));
        using var client = Client(fake);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetManifestAsync(Host, Repository, "v1", cancelled.Token));
    }

    [Fact]
    public void BackoffDoublesWithJitterUpToTheLimit()
    {
        using var client = Client(new FakeRegistryHandler(), configure: o =>
        {
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
            o.MaxRetryDelay = TimeSpan.FromMilliseconds(350);
        });

        for (var i = 0; i < 50; i++)
        {
            Assert.InRange(client.RetryDelay(1, null)!.Value, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100));
            Assert.InRange(client.RetryDelay(2, null)!.Value, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200));
            Assert.InRange(client.RetryDelay(3, null)!.Value, TimeSpan.FromMilliseconds(175), TimeSpan.FromMilliseconds(350));
            Assert.InRange(client.RetryDelay(30, null)!.Value, TimeSpan.FromMilliseconds(175), TimeSpan.FromMilliseconds(350));
        }

        Assert.Equal(TimeSpan.FromMilliseconds(300), client.RetryDelay(1, TimeSpan.FromMilliseconds(300)));
        Assert.Null(client.RetryDelay(1, TimeSpan.FromMilliseconds(351)));
    }

    [Fact]
    public void InvalidRetrySettingsAreRejectedAtStart()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegistryOptions { MaxAttempts = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegistryOptions { RetryBaseDelay = TimeSpan.FromSeconds(-1) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegistryOptions { CredentialRefreshInterval = TimeSpan.Zero }.Validate());
    }
}

using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Engine;

public sealed class VerificationCacheTests
{
    private const string Digest = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00";

    private static readonly ImageVerificationResult s_pass = ImageVerificationResult.Pass("verified", Digest);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task SecondIdenticalCallIsAHit()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(s_pass);

        var first = await verifier.CallAsync(cache, "policy/rule/0/" + Digest);
        var second = await verifier.CallAsync(cache, "policy/rule/0/" + Digest);

        Assert.Equal(1, verifier.Calls);
        Assert.Same(first, second);
        Assert.Equal(1, cache.Misses);
        Assert.Equal(1, cache.Hits);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task DifferentKeysAreVerifiedSeparately()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(s_pass);

        await verifier.CallAsync(cache, "a");
        await verifier.CallAsync(cache, "b");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(0, cache.Hits);
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public async Task FailVerdictsAreCached()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(ImageVerificationResult.Fail("invalid signature", Digest));

        await verifier.CallAsync(cache, "k");
        var second = await verifier.CallAsync(cache, "k");

        Assert.Equal(1, verifier.Calls);
        Assert.Equal(VerificationStatus.Fail, second.Status);
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task EntriesExpireAfterTheTimeToLive()
    {
        var cache = CreateCache(timeToLive: TimeSpan.FromMinutes(60));
        var verifier = new GatedVerifier(s_pass);

        await verifier.CallAsync(cache, "k");
        _time.Advance(TimeSpan.FromMinutes(60) - TimeSpan.FromTicks(1));
        await verifier.CallAsync(cache, "k");
        Assert.Equal(1, verifier.Calls);
        Assert.Equal(1, cache.Hits);

        _time.Advance(TimeSpan.FromTicks(1));
        await verifier.CallAsync(cache, "k");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(1, cache.Hits);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task RefreshedEntryGetsAFreshTimeToLive()
    {
        var cache = CreateCache(timeToLive: TimeSpan.FromMinutes(10));
        var verifier = new GatedVerifier(s_pass);

        await verifier.CallAsync(cache, "k");
        _time.Advance(TimeSpan.FromMinutes(10));
        await verifier.CallAsync(cache, "k");
        _time.Advance(TimeSpan.FromMinutes(9));
        await verifier.CallAsync(cache, "k");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task ErrorResultsAreNotCached()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(ImageVerificationResult.Error("registry ghcr.io is unreachable"));

        var first = await verifier.CallAsync(cache, "k");
        var second = await verifier.CallAsync(cache, "k");

        Assert.Equal(VerificationStatus.Error, first.Status);
        Assert.Equal(VerificationStatus.Error, second.Status);
        Assert.Equal(2, verifier.Calls);
        Assert.Equal(0, cache.Hits);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task AFailThatMayChangeIsNotCachedButThePassAfterItIs()
    {
        var cache = CreateCache();
        var outage = ImageVerificationResult.Fail("the revocation status of the certificate 'CN=leaf' is unknown") with { Cacheable = false };
        var verifier = new GatedVerifier(outage, s_pass);

        var first = await verifier.CallAsync(cache, "k");
        var second = await verifier.CallAsync(cache, "k");
        var third = await verifier.CallAsync(cache, "k");

        Assert.Equal(VerificationStatus.Fail, first.Status);
        Assert.Equal(VerificationStatus.Pass, second.Status);
        Assert.Equal(VerificationStatus.Pass, third.Status);
        Assert.Equal(2, verifier.Calls);
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task ErrorThenPassCachesThePass()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(ImageVerificationResult.Error("timeout"), s_pass);

        await verifier.CallAsync(cache, "k");
        await verifier.CallAsync(cache, "k");
        var third = await verifier.CallAsync(cache, "k");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(VerificationStatus.Pass, third.Status);
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public async Task ExceptionsAreNotCached()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(null, s_pass);

        await Assert.ThrowsAsync<InvalidOperationException>(() => verifier.CallAsync(cache, "k"));
        var second = await verifier.CallAsync(cache, "k");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(VerificationStatus.Pass, second.Status);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task UseCacheFalseBypassesTheCache()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(s_pass);

        await verifier.CallAsync(cache, "k", useCache: false);
        await verifier.CallAsync(cache, "k", useCache: false);

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(0, cache.Hits);
        Assert.Equal(0, cache.Misses);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task DisabledCacheVerifiesEveryTime()
    {
        var cache = new VerificationCache(new VerificationCacheOptions { Enabled = false }, _time);
        var verifier = new GatedVerifier(s_pass);

        await verifier.CallAsync(cache, "k");
        await verifier.CallAsync(cache, "k");

        Assert.Equal(2, verifier.Calls);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task ConcurrentIdenticalCallsShareOneVerification()
    {
        var cache = CreateCache();
        var gate = new TaskCompletionSource<ImageVerificationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        Task<ImageVerificationResult> Verify()
        {
            Interlocked.Increment(ref calls);
            return gate.Task;
        }

        var callers = Enumerable.Range(0, 8).Select(_ => cache.GetOrVerifyAsync("k", useCache: true, Verify)).ToList();
        Assert.All(callers, caller => Assert.False(caller.IsCompleted));

        gate.SetResult(s_pass);
        var results = await Task.WhenAll(callers);

        Assert.Equal(1, calls);
        Assert.All(results, result => Assert.Same(results[0], result));
        Assert.Equal(1, cache.Count);
    }

    // A review whose client went away cancels its verification; reviews that joined it still get a verdict of their own
    // rather than its cancellation (which, as an error, failurePolicy: Ignore would admit).
    [Fact]
    public async Task AJoinedVerificationCancelledByItsOwnerIsRunAgainForTheOthers()
    {
        var cache = CreateCache();
        using var owner = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        async Task<ImageVerificationResult> OwnersVerify()
        {
            Interlocked.Increment(ref calls);
            started.SetResult();
            await Task.Delay(Timeout.Infinite, owner.Token);
            return s_pass;
        }

        Task<ImageVerificationResult> OthersVerify()
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult(s_pass);
        }

        var first = cache.GetOrVerifyAsync("k", useCache: true, OwnersVerify, owner.Token);
        await started.Task;
        using var othersDeadline = new CancellationTokenSource();
        var second = cache.GetOrVerifyAsync("k", useCache: true, OthersVerify, othersDeadline.Token);
        Assert.False(second.IsCompleted);

        await owner.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        Assert.Same(s_pass, await second);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task AJoinedVerificationIsNotRunAgainWhenTheJoinersOwnTimeIsUp()
    {
        var cache = CreateCache();
        using var shared = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;

        async Task<ImageVerificationResult> Verify()
        {
            Interlocked.Increment(ref calls);
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, shared.Token);
            return s_pass;
        }

        var first = cache.GetOrVerifyAsync("k", useCache: true, Verify, shared.Token);
        await started.Task;
        var second = cache.GetOrVerifyAsync("k", useCache: true, Verify, shared.Token);
        await shared.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        Assert.Equal(1, calls);
    }

    // Sixteen threads released together ask for the same key; exactly one verification may run per key.
    [Fact]
    public async Task ConcurrentCallsFromManyThreadsShareOneVerification()
    {
        const int Rounds = 100;
        const int Threads = 16;
        var cache = CreateCache();
        var calls = new int[Rounds];

        for (var round = 0; round < Rounds; round++)
        {
            var index = round;
            var gate = new TaskCompletionSource<ImageVerificationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            using var start = new Barrier(Threads);

            Task<ImageVerificationResult> Verify()
            {
                Interlocked.Increment(ref calls[index]);
                return gate.Task;
            }

            var callers = Enumerable.Range(0, Threads)
                .Select(_ => Task.Factory.StartNew(
                    () =>
                    {
                        start.SignalAndWait();
                        return cache.GetOrVerifyAsync("k" + index, useCache: true, Verify);
                    },
                    CancellationToken.None,
                    TaskCreationOptions.LongRunning,
                    TaskScheduler.Default))
                .ToList();
            var pending = await Task.WhenAll(callers);
            await Task.Delay(1);
            gate.SetResult(s_pass);
            await Task.WhenAll(pending);
        }

        Assert.All(calls, count => Assert.Equal(1, count));
    }

    // A verification that finishes before the cache has published it as in flight (here forced by running the
    // continuation after Task.Yield inline; on the thread pool it happens at random) must not stay "in flight".
    [Fact]
    public async Task ErrorThatCompletesBeforePublicationIsStillRetried()
    {
        var cache = CreateCache();
        var calls = 0;

        Task<ImageVerificationResult> Verify()
        {
            calls++;
            return Task.FromResult(ImageVerificationResult.Error("registry ghcr.io is unreachable"));
        }

        var first = await WithInlineContinuations(() => cache.GetOrVerifyAsync("k", useCache: true, Verify));
        var second = await cache.GetOrVerifyAsync("k", useCache: true, Verify);

        Assert.Equal(VerificationStatus.Error, first.Status);
        Assert.Equal(VerificationStatus.Error, second.Status);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task PassThatCompletesBeforePublicationStillExpires()
    {
        var cache = CreateCache(timeToLive: TimeSpan.FromMinutes(60));
        var calls = 0;

        Task<ImageVerificationResult> Verify()
        {
            calls++;
            return Task.FromResult(ImageVerificationResult.Pass($"verified #{calls}", Digest));
        }

        await WithInlineContinuations(() => cache.GetOrVerifyAsync("k", useCache: true, Verify));
        _time.Advance(TimeSpan.FromMinutes(61));
        var afterExpiry = await cache.GetOrVerifyAsync("k", useCache: true, Verify);

        Assert.Equal(2, calls);
        Assert.Equal("verified #2", afterExpiry.Message);
    }

    // The same interleaving without any help: sequential calls whose verification completes synchronously.
    [Fact]
    public async Task SequentialErrorsAreAllRetriedOnTheThreadPool()
    {
        const int Attempts = 5_000;
        var cache = CreateCache();
        var calls = 0;

        Task<ImageVerificationResult> Verify()
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult(ImageVerificationResult.Error("timeout"));
        }

        for (var i = 0; i < Attempts; i++)
        {
            await cache.GetOrVerifyAsync("k", useCache: true, Verify);
        }

        Assert.Equal(Attempts, calls);
    }

    [Fact]
    public async Task SizeIsBoundedAndTheOldestEntriesGoFirst()
    {
        var cache = CreateCache(maxEntries: 10);
        var verifier = new GatedVerifier(s_pass);

        for (var i = 0; i < 11; i++)
        {
            await verifier.CallAsync(cache, "k" + i);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.InRange(cache.Count, 1, 10);

        await verifier.CallAsync(cache, "k10");
        Assert.Equal(11, verifier.Calls);

        await verifier.CallAsync(cache, "k0");
        Assert.Equal(12, verifier.Calls);
    }

    [Fact]
    public async Task SizeStaysBoundedUnderManyKeys()
    {
        var cache = CreateCache(maxEntries: 100);
        var verifier = new GatedVerifier(s_pass);

        for (var i = 0; i < 1_000; i++)
        {
            await verifier.CallAsync(cache, "k" + i);
            _time.Advance(TimeSpan.FromMilliseconds(10));
            Assert.True(cache.Count <= 100, $"{cache.Count} entries after {i + 1} stores");
        }

        await verifier.CallAsync(cache, "k999");
        Assert.Equal(1_000, verifier.Calls);
    }

    [Fact]
    public async Task ExpiredEntriesAreDroppedBeforeLiveOnesWhenFull()
    {
        var cache = CreateCache(maxEntries: 10, timeToLive: TimeSpan.FromMinutes(1));
        var verifier = new GatedVerifier(s_pass);

        for (var i = 0; i < 5; i++)
        {
            await verifier.CallAsync(cache, "old" + i);
        }

        _time.Advance(TimeSpan.FromMinutes(2));
        for (var i = 0; i < 6; i++)
        {
            await verifier.CallAsync(cache, "new" + i);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(6, cache.Count);
        for (var i = 0; i < 6; i++)
        {
            await verifier.CallAsync(cache, "new" + i);
        }

        Assert.Equal(11, verifier.Calls);
        Assert.Equal(6, cache.Hits);
    }

    [Fact]
    public async Task LookupByCharactersFindsTheStoredVerdictAndCountsAHit()
    {
        var cache = CreateCache();
        var verifier = new GatedVerifier(s_pass);
        await verifier.CallAsync(cache, "policy/rule/0/" + Digest);
        Span<char> key = stackalloc char[64 + 14 + 7];
        ("policy/rule/0/" + Digest).AsSpan().CopyTo(key);

        var found = cache.TryGetCached(key[..("policy/rule/0/" + Digest).Length], useCache: true, out var verdict);
        var again = cache.TryGetCached(key[..("policy/rule/0/" + Digest).Length], useCache: true, out var verdictAgain);
        var other = cache.TryGetCached("policy/rule/1/" + Digest, useCache: true, out var none);

        Assert.True(found);
        Assert.Same(s_pass, await verdict!);
        Assert.True(again);
        Assert.Same(verdict, verdictAgain);
        Assert.False(other);
        Assert.Null(none);
        Assert.Equal(2, cache.Hits);
        Assert.Equal(1, cache.Misses);
        Assert.Equal(1, verifier.Calls);
    }

    [Fact]
    public async Task LookupByCharactersMissesWhenExpiredBypassedOrDisabled()
    {
        var cache = CreateCache(timeToLive: TimeSpan.FromMinutes(1));
        var verifier = new GatedVerifier(s_pass);
        await verifier.CallAsync(cache, "k");
        var disabled = new VerificationCache(new VerificationCacheOptions { Enabled = false }, _time);
        await verifier.CallAsync(disabled, "k");

        var bypassed = cache.TryGetCached("k", useCache: false, out _);
        var off = disabled.TryGetCached("k", useCache: true, out _);
        _time.Advance(TimeSpan.FromMinutes(1));
        var expired = cache.TryGetCached("k", useCache: true, out _);

        Assert.False(bypassed);
        Assert.False(off);
        Assert.False(expired);
        Assert.Equal(0, cache.Hits);

        // The expired entry is then verified again by the ordinary path, as before.
        await verifier.CallAsync(cache, "k");
        Assert.Equal(3, verifier.Calls);
    }

    private VerificationCache CreateCache(int maxEntries = 1000, TimeSpan? timeToLive = null) =>
        new(new VerificationCacheOptions { MaxEntries = maxEntries, TimeToLive = timeToLive ?? TimeSpan.FromMinutes(60) }, _time);

    private static async Task<T> WithInlineContinuations<T>(Func<Task<T>> action)
    {
        var previous = SynchronizationContext.Current;
        Task<T> task;
        SynchronizationContext.SetSynchronizationContext(new InlineSynchronizationContext());
        try
        {
            task = action();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        return await task;
    }

    /// <summary>Runs posted continuations on the spot, so the interleaving a busy thread pool produces at random happens every time.</summary>
    private sealed class InlineSynchronizationContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => d(state);
    }

    /// <summary>
    /// A verification that cannot finish before <see cref="VerificationCache.GetOrVerifyAsync"/> has returned, so these
    /// tests observe the cache's bookkeeping and not the scheduling race that has its own tests above. Results are
    /// handed out in order, the last one repeating; a <see langword="null"/> result throws.
    /// </summary>
    private sealed class GatedVerifier(params ImageVerificationResult?[] results)
    {
        private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public async Task<ImageVerificationResult> CallAsync(VerificationCache cache, string key, bool useCache = true)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _gate = gate;
            var pending = cache.GetOrVerifyAsync(key, useCache, VerifyAsync);
            gate.SetResult();
            return await pending;
        }

        private async Task<ImageVerificationResult> VerifyAsync()
        {
            var gate = _gate;
            var call = Interlocked.Increment(ref _calls);
            await gate.Task;
            return results[Math.Min(call, results.Length) - 1] ?? throw new InvalidOperationException("verification blew up");
        }
    }
}

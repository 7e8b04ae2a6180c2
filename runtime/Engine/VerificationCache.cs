using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>Bounds of the verification cache (Kyverno's defaults: 1000 entries, 60 minutes).</summary>
public sealed class VerificationCacheOptions
{
    public bool Enabled { get; set; } = true;

    public int MaxEntries { get; set; } = 1000;

    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromMinutes(60);
}

/// <summary>
/// Remembers verdicts per (policy, rule, entry, digest) and coalesces identical verifications that run at the same
/// time into one. Only verdicts about the image are kept; infrastructure errors are always retried.
/// </summary>
public sealed class VerificationCache(VerificationCacheOptions options, TimeProvider time, Telemetry.WebhookMetrics? metrics = null)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<ImageVerificationResult>> _inFlight = new(StringComparer.Ordinal);
    private long _hits;
    private long _misses;

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public int Count => _entries.Count;

    /// <summary>
    /// The verdict kept for <paramref name="key"/>, looked up from its characters (a pooled or stack buffer) so that a
    /// hit, the common case of a warm webhook, allocates neither the key string nor a task. False on a miss or an
    /// expired entry, which <see cref="GetOrVerifyAsync"/> then handles.
    /// </summary>
    public bool TryGetCached(ReadOnlySpan<char> key, bool useCache, [NotNullWhen(true)] out Task<ImageVerificationResult>? verdict)
    {
        verdict = null;
        if (!options.Enabled || !useCache
            || !_entries.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out var entry)
            || entry.ExpiresAt <= time.GetUtcNow())
        {
            return false;
        }

        Interlocked.Increment(ref _hits);
        metrics?.CacheLookups.Inc("hit");
        verdict = entry.Completed;
        return true;
    }

    /// <param name="cancellationToken">The caller's own deadline. A caller that joined another's verification runs its
    /// own when that one was cancelled (its client went away, its deadline passed) while the caller's own time is not up:
    /// one client's abort must not become another review's error, which <c>failurePolicy: Ignore</c> would admit.</param>
    public Task<ImageVerificationResult> GetOrVerifyAsync(string key, bool useCache, Func<Task<ImageVerificationResult>> verify, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(verify);
        if (!options.Enabled || !useCache)
        {
            return verify();
        }

        if (_entries.TryGetValue(key, out var entry))
        {
            if (entry.ExpiresAt > time.GetUtcNow())
            {
                Interlocked.Increment(ref _hits);
                metrics?.CacheLookups.Inc("hit");
                return entry.Completed;
            }

            _entries.TryRemove(KeyValuePair.Create(key, entry));
        }

        // Only the caller whose placeholder wins the race runs the verification; the others await it.
        // The placeholder is published before any work starts and removed before it completes, so a
        // finished verification can never linger as "in flight".
        var placeholder = new TaskCompletionSource<ImageVerificationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = _inFlight.GetOrAdd(key, placeholder.Task);
        if (inFlight != placeholder.Task)
        {
            Interlocked.Increment(ref _hits);
            metrics?.CacheLookups.Inc("coalesced");
            return JoinAsync(inFlight, verify, cancellationToken);
        }

        Interlocked.Increment(ref _misses);
        metrics?.CacheLookups.Inc("miss");
        _ = RunAsync(key, verify, placeholder);
        return placeholder.Task;
    }

    private static async Task<ImageVerificationResult> JoinAsync(Task<ImageVerificationResult> inFlight, Func<Task<ImageVerificationResult>> verify, CancellationToken cancellationToken)
    {
        try
        {
            return await inFlight.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return await verify().ConfigureAwait(false);
        }
    }

    private async Task RunAsync(string key, Func<Task<ImageVerificationResult>> verify, TaskCompletionSource<ImageVerificationResult> placeholder)
    {
        ImageVerificationResult result;
        try
        {
            result = await verify().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _inFlight.TryRemove(KeyValuePair.Create(key, placeholder.Task));
            placeholder.SetException(e);
            return;
        }

        if (result.Status != VerificationStatus.Error && result.Cacheable)
        {
            Store(key, result);
        }

        _inFlight.TryRemove(KeyValuePair.Create(key, placeholder.Task));
        placeholder.SetResult(result);
    }

    private void Store(string key, ImageVerificationResult result)
    {
        var now = time.GetUtcNow();
        _entries[key] = new Entry(result, now + options.TimeToLive, now);
        if (_entries.Count <= options.MaxEntries)
        {
            return;
        }

        // Over the bound: drop what has expired, then the oldest tenth.
        foreach (var pair in _entries)
        {
            if (pair.Value.ExpiresAt <= now)
            {
                _entries.TryRemove(pair);
            }
        }

        var excess = _entries.Count - options.MaxEntries;
        if (excess > 0)
        {
            foreach (var pair in _entries.OrderBy(p => p.Value.StoredAt).Take(Math.Max(excess, options.MaxEntries / 10)))
            {
                _entries.TryRemove(pair);
            }
        }
    }

    private sealed record Entry(ImageVerificationResult Result, DateTimeOffset ExpiresAt, DateTimeOffset StoredAt)
    {
        // One completed task per verdict, handed to every hit, instead of a new one per lookup.
        public Task<ImageVerificationResult> Completed { get; } = Task.FromResult(Result);
    }
}

using System.Collections.Concurrent;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// Values read from the API server and kept for <c>timeToLive</c>: they change rarely, and a review must not wait for
/// the API server every time. Concurrent misses for one key share one read; failed reads are not kept.
/// </summary>
public sealed class ExpiringReadCache<T>(Func<string, Task<T>> read, TimeSpan timeToLive, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<(T Value, DateTimeOffset Expires)>>> _entries = new(StringComparer.Ordinal);

    public async ValueTask<T> GetAsync(string key, CancellationToken cancellationToken)
    {
        var entry = _entries.GetOrAdd(key, Create);
        if (entry.Value.IsCompletedSuccessfully && entry.Value.Result.Expires <= time.GetUtcNow())
        {
            var fresh = Create(key);
            entry = _entries.TryUpdate(key, fresh, entry) ? fresh : _entries.GetOrAdd(key, fresh);
        }

        try
        {
            return (await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false)).Value;
        }
        catch (Exception) when (entry.Value.IsFaulted)
        {
            _entries.TryRemove(KeyValuePair.Create(key, entry));
            throw;
        }
    }

    private Lazy<Task<(T, DateTimeOffset)>> Create(string key) => new(async () => (await read(key).ConfigureAwait(false), time.GetUtcNow() + timeToLive));
}

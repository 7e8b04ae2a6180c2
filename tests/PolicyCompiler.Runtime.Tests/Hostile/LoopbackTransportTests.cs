using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// Transport faults that an HttpMessageHandler fake can only imitate, produced for real on a loopback socket and met by
/// the production HTTP stack (SocketsHttpHandler): resets, bodies cut short, stalls, lying Content-Length, garbage
/// instead of HTTP. Each ends in a <see cref="RegistryException"/> (or the caller's cancellation) in bounded time.
/// </summary>
public sealed class LoopbackTransportTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _connections;

    public LoopbackTransportTests() => _listener.Start();

    private string Authority => "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Accepts connections and hands each to <paramref name="serve"/> after reading the request head.</summary>
    private void Serve(Func<Socket, NetworkStream, Task> serve) => _ = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = Task.Run(async () =>
            {
                using var stream = new NetworkStream(socket, ownsSocket: true);
                try
                {
                    await ReadHeadAsync(stream);
                    await serve(socket, stream);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    // The client went away: expected in these tests.
                }
            });
        }
    });

    private async Task ReadHeadAsync(NetworkStream stream)
    {
        var seen = new List<byte>();
        var one = new byte[1];
        while (!(seen.Count >= 4 && seen[^4] == '\r' && seen[^3] == '\n' && seen[^2] == '\r' && seen[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0)
            {
                return;
            }

            seen.Add(one[0]);
        }
    }

    private static void Reset(Socket socket)
    {
        // Linger 0: close with RST instead of FIN, as a crashing proxy or a firewall would.
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    private RegistryClient Client()
    {
        var options = new RegistryOptions();
        options.InsecureRegistries.Add(Authority);
        var client = new RegistryClient(options);
        client.DelayAsync = (_, _) => Task.CompletedTask;
        return client;
    }

    private Task<ManifestResponse> Get(RegistryClient client, CancellationToken cancellationToken = default) =>
        client.GetManifestAsync(Authority, "team/app", "v1", cancellationToken);

    [Fact]
    public async Task ConnectionResetBeforeAnswerIsRetriedThenUnavailable()
    {
        Serve((socket, _) =>
        {
            Reset(socket);
            return Task.CompletedTask;
        });
        using var client = Client();

        var error = await Assert.ThrowsAsync<RegistryException>(() => Get(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.True(error.IsTransient);
        Assert.Equal(client.Options.MaxAttempts, Volatile.Read(ref _connections));
    }

    [Fact]
    public async Task BodyResetMidwayIsRetriedThenUnavailable()
    {
        Serve(async (socket, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"schemaVersion\":"u8.ToArray());
            await stream.FlushAsync();
            await Task.Delay(50);
            Reset(socket);
        });
        using var client = Client();

        var error = await Assert.ThrowsAsync<RegistryException>(() => Get(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.Contains("connection lost while reading", error.Message, StringComparison.Ordinal);
        Assert.Equal(client.Options.MaxAttempts, Volatile.Read(ref _connections));
    }

    [Fact]
    public async Task RegistryThatAcceptsAndNeverAnswersEndsAtTheCallersDeadline()
    {
        Serve((_, _) => Task.Delay(Timeout.Infinite, _stop.Token));
        using var client = Client();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Get(client, deadline.Token));

        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task HugeDeclaredContentLengthIsRefusedWithoutReadingTheBody()
    {
        Serve(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n"u8.ToArray());
            var chunk = new byte[64 * 1024];
            while (!_stop.IsCancellationRequested)
            {
                await stream.WriteAsync(chunk, _stop.Token);
            }
        });
        using var client = Client();

        var error = await Assert.ThrowsAsync<RegistryException>(() => Get(client));

        Assert.Equal(RegistryFailure.InvalidResponse, error.Failure);
        Assert.Contains("more than the limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, Volatile.Read(ref _connections));
    }

    [Fact]
    public async Task ChunkedBodyWithoutEndIsCutAtTheLimit()
    {
        Serve(async (_, stream) =>
        {
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
            var chunk = Encoding.ASCII.GetBytes("10000\r\n" + new string(' ', 0x10000) + "\r\n");
            while (!_stop.IsCancellationRequested)
            {
                await stream.WriteAsync(chunk, _stop.Token);
            }
        });
        using var client = Client();

        var error = await Assert.ThrowsAsync<RegistryException>(() => Get(client));

        Assert.Equal(RegistryFailure.InvalidResponse, error.Failure);
        Assert.Contains("larger than the limit", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Garbage instead of HTTP is treated like an unreachable registry (retried, then transient). Decision: a registry
    /// that controls its own availability can always produce an error, so under failurePolicy: Ignore an untrusted
    /// registry is not protected against whatever it does; the README says so.
    /// </summary>
    [Fact]
    public async Task GarbageInsteadOfHttpIsAnUnreachableRegistry()
    {
        Serve(async (_, stream) =>
        {
            await stream.WriteAsync("SSH-2.0-OpenSSH_9.6\r\n\r\n"u8.ToArray());
            await stream.FlushAsync();
        });
        using var client = Client();

        var error = await Assert.ThrowsAsync<RegistryException>(() => Get(client));

        Assert.Equal(RegistryFailure.Unavailable, error.Failure);
        Assert.Contains("unreachable", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}

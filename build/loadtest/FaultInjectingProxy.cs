using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PolicyCompiler.LoadTest;

/// <summary>How <see cref="FaultInjectingProxy"/> spoils the registry's answers.</summary>
public enum RegistryFault
{
    /// <summary>Every request reaches the registry only after a fixed delay, so every answer comes that much later.</summary>
    DelayEachResponse,

    /// <summary>Answers travel back one byte at a time, with a pause after each.</summary>
    TrickleBytes,
}

/// <summary>
/// A fault injector for the load test, not a registry: a TCP proxy on a loopback port in front of the real
/// docker-registry that delays or trickles what passes through, and counts the HTTP requests it sees. The webhook's
/// registry requests are reads without bodies (GET and HEAD) and not pipelined, so each request head that ends with an
/// empty line is one request.
/// </summary>
public sealed class FaultInjectingProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly CancellationTokenSource _stop = new();
    private long _requests;

    public FaultInjectingProxy(string upstreamHostPort)
    {
        var colon = upstreamHostPort.LastIndexOf(':');
        _upstream = new IPEndPoint(IPAddress.Parse(upstreamHostPort[..colon]), int.Parse(upstreamHostPort[(colon + 1)..], CultureInfo.InvariantCulture));
        _listener.Start(backlog: 1024);
        _ = AcceptLoopAsync();
    }

    /// <summary>What is done to the traffic now; may change between runs.</summary>
    public RegistryFault Fault { get; set; } = RegistryFault.DelayEachResponse;

    /// <summary>The delay before each request is forwarded (<see cref="RegistryFault.DelayEachResponse"/>).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The pause after each byte of an answer (<see cref="RegistryFault.TrickleBytes"/>).</summary>
    public TimeSpan TricklePause { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary><c>127.0.0.1:port</c> of the proxy, to put in image references instead of the registry's.</summary>
    public string Host => "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>HTTP requests seen so far (counted when they arrive, before any delay).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using (client)
        using (var connection = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            client.NoDelay = true;
            try
            {
                await upstream.ConnectAsync(_upstream, connection.Token).ConfigureAwait(false);
                var fault = Fault;
                // Either direction ending ends the connection: the webhook gave up, or the registry closed.
                await Task.WhenAny(RequestsAsync(client, upstream, fault, connection.Token), AnswersAsync(upstream, client, fault, connection.Token)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                await connection.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RequestsAsync(Socket from, Socket to, RegistryFault fault, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        var tail = 0u;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                var heads = 0;
                for (var i = 0; i < read; i++)
                {
                    tail = (tail << 8) | buffer[i];
                    if (tail == 0x0D0A0D0A)
                    {
                        heads++;
                    }
                }

                Interlocked.Add(ref _requests, heads);
                if (heads > 0 && fault == RegistryFault.DelayEachResponse)
                {
                    await Task.Delay(Delay, cancellationToken).ConfigureAwait(false);
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AnswersAsync(Socket from, Socket to, RegistryFault fault, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                if (fault != RegistryFault.TrickleBytes)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                for (var i = 0; i < read; i++)
                {
                    await to.SendAsync(buffer.AsMemory(i, 1), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    await Task.Delay(TricklePause, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A fault injector, not a registry: a loopback port that accepts connections, reads and discards whatever arrives
/// (a TLS ClientHello, an HTTP request) and never writes a byte back. It stands for a registry that is up at the TCP
/// level and hangs, the worst case for a webhook's deadline.
/// </summary>
public sealed class StallingRegistry : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _accepted = [];
    private int _connections;

    public StallingRegistry()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    /// <summary><c>127.0.0.1:port</c>, as an image reference names a registry.</summary>
    public string Host => "127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_accepted)
        {
            foreach (var socket in _accepted)
            {
                socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            lock (_accepted)
            {
                _accepted.Add(socket);
            }

            _ = DrainAsync(socket);
        }
    }

    private async Task DrainAsync(Socket socket)
    {
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}

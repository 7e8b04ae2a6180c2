using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>What came back on a raw connection: an HTTP response head and body, or nothing before the server closed.</summary>
public sealed record RawResponse(int? Status, string Head, string Body, bool ClosedByServer, TimeSpan Elapsed)
{
    public override string ToString() =>
        Status is { } status
            ? $"HTTP {status.ToString(CultureInfo.InvariantCulture)} after {Elapsed.TotalMilliseconds:F0} ms\n{Head}\n{Body}"
            : $"no HTTP response; {(ClosedByServer ? "closed by the server" : "still open")} after {Elapsed.TotalMilliseconds:F0} ms; received: {Head}";
}

/// <summary>
/// A client that misbehaves on purpose, byte by byte, below <see cref="HttpClient"/>: TCP to the webhook's port, TLS
/// that trusts only the test certificate, and a minimal HTTP/1.1 response reader. Used to send what the API server
/// never sends (garbage, half handshakes, trickled headers, resets) and see what the webhook does about it.
/// </summary>
public sealed class RawConnection : IAsyncDisposable
{
    private RawConnection(Socket socket, Stream stream)
    {
        Socket = socket;
        Stream = stream;
    }

    public Socket Socket { get; }

    /// <summary>The TLS stream, or the plain network stream of a connection that skipped TLS.</summary>
    public Stream Stream { get; }

    public static async Task<RawConnection> OpenTcpAsync(int port, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        return new RawConnection(socket, new NetworkStream(socket, ownsSocket: false));
    }

    public static async Task<RawConnection> OpenTlsAsync(int port, TestCertificate trusted, string? alpn = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(ClientOptions(trusted, alpn), cancellationToken).ConfigureAwait(false);
        return new RawConnection(socket, tls);
    }

    /// <summary>TLS client options that trust <paramref name="trusted"/> and nothing else, with optional ALPN.</summary>
    public static SslClientAuthenticationOptions ClientOptions(TestCertificate trusted, string? alpn = null)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificate(trusted.TrustAnchor.RawData));
        return new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            CertificateChainPolicy = policy,
            ApplicationProtocols = alpn is null ? null : [new SslApplicationProtocol(alpn)],
        };
    }

    /// <summary>
    /// The TLS ClientHello this machine's <see cref="SslStream"/> sends, captured without a server: the bytes of the
    /// first write, after which the capturing stream fails the handshake.
    /// </summary>
    public static async Task<byte[]> CaptureClientHelloAsync(TestCertificate trusted)
    {
        var capture = new FirstWriteCapture();
        using var tls = new SslStream(capture);
        try
        {
            await tls.AuthenticateAsClientAsync(ClientOptions(trusted)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
        }

        return capture.Captured ?? throw new InvalidOperationException("SslStream wrote no ClientHello");
    }

    public Task WriteAsync(string text, CancellationToken cancellationToken = default) => WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken);

    public async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        await Stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the connection with a TCP reset (SO_LINGER 0) instead of a FIN: an abort, not a goodbye.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(enable: true, seconds: 0);
        Socket.Close();
    }

    /// <summary>
    /// Reads until a complete HTTP/1.1 response (head and Content-Length body) arrived, the server closed the
    /// connection, or <paramref name="timeout"/> passed.
    /// </summary>
    public async Task<RawResponse> ReadResponseAsync(TimeSpan timeout)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(timeout);
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        var closed = false;
        while (true)
        {
            if (TryParse(received.ToArray(), started.Elapsed) is { } complete)
            {
                return complete;
            }

            int read;
            try
            {
                read = await Stream.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (IOException)
            {
                // A reset by the server, or TLS torn down under the read: the server ended the connection.
                closed = true;
                break;
            }

            if (read == 0)
            {
                closed = true;
                break;
            }

            received.Write(buffer, 0, read);
        }

        var bytes = received.ToArray();
        return TryParse(bytes, started.Elapsed, partialBodyAllowed: true) is { } partial
            ? partial with { ClosedByServer = closed }
            : new RawResponse(null, Printable(bytes), string.Empty, closed, started.Elapsed);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
        }

        Socket.Dispose();
    }

    private static RawResponse? TryParse(byte[] bytes, TimeSpan elapsed, bool partialBodyAllowed = false)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0 || !text.StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return null;
        }

        var head = text[..end];
        var body = text[(end + 4)..];
        var length = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(p => int.Parse(p[1].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault(-1);
        if (!partialBodyAllowed && length >= 0 && body.Length < length)
        {
            return null;
        }

        if (!partialBodyAllowed && length < 0 && !head.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            // No length and not chunked: the body ends when the connection does.
            return null;
        }

        var status = int.Parse(head.Split(' ', 3)[1], CultureInfo.InvariantCulture);
        return new RawResponse(status, head, body, false, elapsed);
    }

    private static string Printable(byte[] bytes) =>
        bytes.Length == 0 ? "(nothing)" : bytes.Length + " bytes: " + new string(Encoding.Latin1.GetString(bytes, 0, Math.Min(bytes.Length, 200)).Select(c => c is >= ' ' and < '\u007f' ? c : '.').ToArray());

    /// <summary>Records the first write and fails every operation after it, so that a handshake stops right there.</summary>
    private sealed class FirstWriteCapture : Stream
    {
        public byte[]? Captured { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new IOException("capture only");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new IOException("capture only");

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Captured is not null)
            {
                throw new IOException("capture only");
            }

            Captured = buffer.ToArray();
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }
    }
}

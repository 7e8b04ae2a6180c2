using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>A request as a <see cref="FakeNamedHostServer"/> saw it: the scheme it came over and the host it named.</summary>
internal sealed record HostRequest(string Scheme, string Host, string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;

    public string Path => PathAndQuery.Split('?', 2)[0];

    /// <summary>The form fields of an <c>application/x-www-form-urlencoded</c> body, or of the query for a GET.</summary>
    public IReadOnlyDictionary<string, string> Fields(bool query = false)
    {
        var text = query ? (PathAndQuery.Split('?', 2) is [_, var q] ? q : "") : Encoding.UTF8.GetString(Body);
        return text.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "", StringComparer.Ordinal);
    }

    /// <summary>Every header value and the body, to search for a secret that must not be there.</summary>
    public string Everything => string.Join('\n', Headers.Select(h => h.Key + ": " + h.Value)) + "\n" + PathAndQuery + "\n" + Encoding.UTF8.GetString(Body);
}

/// <summary>What a <see cref="FakeNamedHostServer"/> answers.</summary>
internal sealed record HostAnswer(HttpStatusCode Status, string Body, string ContentType = "application/json", IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// An HTTP/1.1 server on loopback (HTTPS with a certificate naming the fake hosts, or plain HTTP) that answers for
/// public host names such as <c>myregistry.azurecr.io</c> or <c>ghcr.io</c>: the client under test keeps its real URLs
/// (<c>https://myregistry.azurecr.io/oauth2/exchange</c>), checks the certificate against the name, and only the TCP
/// connection is routed here by <see cref="FakeNamedHosts.Handler"/>. A fake: none of those services is reachable here.
/// </summary>
internal sealed class FakeNamedHostServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stop = new();

    public FakeNamedHostServer(X509Certificate2? certificate)
    {
        _certificate = certificate;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    public ConcurrentQueue<HostRequest> Requests { get; } = new();

    public Func<HostRequest, HostAnswer> Handler { get; set; } = _ => new HostAnswer(HttpStatusCode.NotFound, "{}");

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            Stream stream = client.GetStream();
            try
            {
                if (_certificate is not null)
                {
                    var tls = new SslStream(stream);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                    stream = tls;
                }

                // One request per connection (Connection: close), which is all the clients under test need.
                var request = await ReadRequestAsync(stream);
                Requests.Enqueue(request);
                var answer = Handler(request);
                var body = Encoding.UTF8.GetBytes(answer.Body);
                var head = new StringBuilder().Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {(int)answer.Status} {answer.Status}\r\nContent-Type: {answer.ContentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n");
                foreach (var (name, value) in answer.Headers ?? new Dictionary<string, string>())
                {
                    head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
                }

                head.Append("\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
                await stream.WriteAsync(body);
                await stream.FlushAsync();
            }
            catch (Exception e) when (e is IOException or AuthenticationException or OperationCanceledException)
            {
                // A client that gave up (a refused certificate, a cancelled call) is not the server's failure.
            }
            finally
            {
                await stream.DisposeAsync();
            }
        }
    }

    private async Task<HostRequest> ReadRequestAsync(Stream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await stream.ReadAsync(one) == 0 || head.Count > 65536)
            {
                throw new IOException("the request head ended early");
            }

            head.Add(one[0]);
        }

        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim(), StringComparer.Ordinal);
        var body = new byte[headers.TryGetValue("content-length", out var length) ? int.Parse(length, CultureInfo.InvariantCulture) : 0];
        await stream.ReadExactlyAsync(body);
        var host = headers.TryGetValue("host", out var h) ? h : "";
        return new HostRequest(_certificate is null ? "http" : "https", host, requestLine[0], requestLine[1], headers, body);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}

/// <summary>
/// The public names the fakes answer for, a test CA whose certificate names them, and the client side: an HTTP stack
/// that sends every connection to port 443 to the HTTPS fake and to port 80 to the plain one (loopback addresses go
/// where they say), trusting the test CA as <c>Registry:CaBundleFile</c> would and checking the host name as always.
/// </summary>
internal sealed class FakeNamedHosts : IDisposable
{
    private readonly X509Certificate2 _root;

    public FakeNamedHosts(params string[] names)
    {
        var now = DateTimeOffset.UtcNow;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=fake named hosts test CA", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        _root = X509CertificateLoader.LoadCertificate(root.RawData);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=" + names[0], leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var leaf = leafRequest.Create(root, now.AddMinutes(-5), now.AddHours(12), RandomNumberGenerator.GetBytes(8));
        using var withKey = leaf.CopyWithPrivateKey(leafKey);
        var certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);

        Https = new FakeNamedHostServer(certificate);
        Http = new FakeNamedHostServer(null);
    }

    public FakeNamedHostServer Https { get; }

    public FakeNamedHostServer Http { get; }

    /// <summary>Every <c>host:port</c> the client connected to, in order.</summary>
    public ConcurrentQueue<string> Connections { get; } = new();

    public IEnumerable<HostRequest> AllRequests => Https.Requests.Concat(Http.Requests);

    public SocketsHttpHandler Handler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = new RegistryTrust([_root]).Validate },
        ConnectCallback = async (context, cancellationToken) =>
        {
            var endpoint = context.DnsEndPoint;
            Connections.Enqueue($"{endpoint.Host}:{endpoint.Port}");
            var port = IPAddress.TryParse(endpoint.Host, out var address) && IPAddress.IsLoopback(address) ? endpoint.Port
                : endpoint.Port == 443 ? Https.Port
                : endpoint.Port == 80 ? Http.Port
                : throw new HttpRequestException($"the test routes no connection to {endpoint.Host}:{endpoint.Port}");
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public void Dispose()
    {
        Https.Dispose();
        Http.Dispose();
        _root.Dispose();
    }
}

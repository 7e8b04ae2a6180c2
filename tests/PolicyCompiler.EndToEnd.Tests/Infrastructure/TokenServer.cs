using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>One request the token server answered.</summary>
public sealed record TokenRequest(string Method, string Target, string? BasicUser, IReadOnlyList<string> Scopes, IReadOnlyDictionary<string, string> Form, int Status);

/// <summary>
/// A token endpoint for a docker-registry started with <c>auth: token:</c> (distribution's docs/spec/auth/token.md,
/// jwt.md and oauth.md), over HTTPS on 127.0.0.1 with a certificate of the test CA. It authenticates
/// <c>GET /token?service=…&amp;scope=…</c> with Basic credentials, and <c>POST /token</c> with
/// <c>grant_type=refresh_token</c> (Docker's identity tokens); an anonymous GET gets a token that grants nothing.
/// Tokens are ES256 JWTs whose <c>x5c</c> header holds the signing certificate, issued by the same CA that the
/// registry's <c>rootcertbundle</c> holds. Every request is recorded.
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "policycompiler-e2e-registry";
    public const string Issuer = "policycompiler-e2e-token-server";

    private static readonly TimeSpan s_lifetime = TimeSpan.FromMinutes(5);

    private readonly TcpListener _listener;
    private readonly X509Certificate2 _tlsCertificate;
    private readonly TestCertificate _signingCertificate;
    private readonly ECDsa _signingKey;
    private readonly RegistryCredentials _user;
    private readonly string _identityToken;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TokenRequest> _requests = [];
    private readonly Task _loop;

    private TokenServer(TestCertificate authority, RegistryCredentials user, string identityToken)
    {
        using var tls = authority.Issue("token-server");
        _tlsCertificate = tls.CreateServerCertificate();
        _signingCertificate = authority.Issue("token-signer", serverAuthentication: false);
        _signingKey = ECDsa.Create();
        _signingKey.ImportFromPem(_signingCertificate.PrivateKeyPem);
        _user = user;
        _identityToken = identityToken;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The realm the registry sends clients to.</summary>
    public Uri Realm => new("https://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture) + "/token");

    public IReadOnlyList<TokenRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    /// <param name="authority">The CA of the token server's TLS certificate and of its token-signing certificate.</param>
    /// <param name="user">Who may authenticate with Basic credentials.</param>
    /// <param name="identityToken">The refresh token accepted by <c>grant_type=refresh_token</c>.</param>
    public static TokenServer Start(TestCertificate authority, RegistryCredentials user, string identityToken)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(user);
        return new TokenServer(authority, user, identityToken);
    }

    /// <summary>A token for <paramref name="subject"/> granting <paramref name="actions"/> on each of <paramref name="repositories"/> (tests push with one).</summary>
    public string MintToken(string subject, IEnumerable<string> repositories, params string[] actions)
    {
        ArgumentNullException.ThrowIfNull(repositories);
        return Mint(subject, repositories.Select(r => (r, actions)));
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _tlsCertificate.Dispose();
        _signingCertificate.Dispose();
        _signingKey.Dispose();
    }

    private string Mint(string subject, IEnumerable<(string Repository, string[] Actions)> access)
    {
        var now = DateTimeOffset.UtcNow;
        var header = new JsonObject
        {
            ["typ"] = "JWT",
            ["alg"] = "ES256",
            ["x5c"] = new JsonArray(Convert.ToBase64String(_signingCertificate.Certificate.RawData)),
        };
        var claims = new JsonObject
        {
            ["iss"] = Issuer,
            ["sub"] = subject,
            ["aud"] = Service,
            ["exp"] = (now + s_lifetime).ToUnixTimeSeconds(),
            ["nbf"] = now.AddSeconds(-10).ToUnixTimeSeconds(),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = new JsonArray([.. access.Select(a => (JsonNode)new JsonObject
            {
                ["type"] = "repository",
                ["name"] = a.Repository,
                ["actions"] = new JsonArray([.. a.Actions.Select(x => (JsonNode)JsonValue.Create(x))]),
            })]),
        };
        var signingInput = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));

        // JWS ES256: the raw r||s signature of SHA-256 over the signing input.
        var signature = _signingKey.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
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
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await using var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _tlsCertificate }, timeout.Token).ConfigureAwait(false);
                var request = await ReadRequestAsync(tls, timeout.Token).ConfigureAwait(false);
                if (request is null)
                {
                    return;
                }

                var (status, body) = Answer(request.Value.Method, request.Value.Target, request.Value.Headers, request.Value.Body);
                var bytes = Encoding.UTF8.GetBytes(body);
                var head = $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Error")}\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                await tls.WriteAsync(Encoding.ASCII.GetBytes(head), timeout.Token).ConfigureAwait(false);
                await tls.WriteAsync(bytes, timeout.Token).ConfigureAwait(false);
                await tls.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException)
            {
                // A client that gave up, or one that does not trust the certificate: nothing to answer.
            }
        }
    }

    private (int Status, string Body) Answer(string method, string target, Dictionary<string, string> headers, string body)
    {
        var query = target.Contains('?', StringComparison.Ordinal) ? target[(target.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty;
        var path = target.Split('?')[0];
        var form = method == "POST" ? ParseForm(body) : new Dictionary<string, string>(StringComparer.Ordinal);
        string? user = null;
        bool authenticated;
        List<string> scopes;
        int status;
        string answer;
        if (path != "/token")
        {
            (status, answer, authenticated, scopes) = (404, """{"errors":[{"code":"NOT_FOUND"}]}""", false, []);
        }
        else if (method == "GET")
        {
            scopes = [.. ParseQueryValues(query, "scope")];
            authenticated = false;
            if (headers.TryGetValue("authorization", out var authorization))
            {
                var basic = authorization.StartsWith("Basic ", StringComparison.Ordinal) ? Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim())) : string.Empty;
                var colon = basic.IndexOf(':', StringComparison.Ordinal);
                user = colon > 0 ? basic[..colon] : null;
                authenticated = user == _user.UserName && basic[(colon + 1)..] == _user.Password;
                if (!authenticated)
                {
                    Record(method, target, user, scopes, form, 401);
                    return (401, """{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}""");
                }
            }

            status = 200;
            answer = TokenJson(authenticated ? _user.UserName : "anonymous", authenticated ? scopes : []);
        }
        else if (method == "POST")
        {
            scopes = form.TryGetValue("scope", out var scope) ? [.. scope.Split(' ', StringSplitOptions.RemoveEmptyEntries)] : [];
            authenticated = form.GetValueOrDefault("grant_type") == "refresh_token" && form.GetValueOrDefault("refresh_token") == _identityToken && form.ContainsKey("client_id");
            (status, answer) = authenticated
                ? (200, TokenJson("identity-token-user", scopes))
                : (400, """{"error":"invalid_grant"}""");
        }
        else
        {
            (status, answer, scopes) = (405, "{}", []);
        }

        Record(method, target, user, scopes, form, status);
        return (status, answer);
    }

    private string TokenJson(string subject, IReadOnlyList<string> scopes)
    {
        var access = new List<(string, string[])>();
        foreach (var scope in scopes)
        {
            // repository:<name>:<actions>; names never hold a colon, the actions are the last field.
            var first = scope.IndexOf(':', StringComparison.Ordinal);
            var last = scope.LastIndexOf(':');
            if (first > 0 && last > first && scope[..first] == "repository")
            {
                access.Add((scope[(first + 1)..last], scope[(last + 1)..].Split(',')));
            }
        }

        var token = Mint(subject, access);
        return new JsonObject
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = (int)s_lifetime.TotalSeconds,
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        }.ToJsonString();
    }

    private void Record(string method, string target, string? user, IReadOnlyList<string> scopes, Dictionary<string, string> form, int status)
    {
        lock (_requests)
        {
            _requests.Add(new TokenRequest(method, target, user, scopes, form, status));
        }
    }

    private static IEnumerable<string> ParseQueryValues(string query, string name) =>
        query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2 && Uri.UnescapeDataString(p[0]) == name)
            .Select(p => Uri.UnescapeDataString(p[1].Replace('+', ' ')));

    private static Dictionary<string, string> ParseForm(string body) =>
        body.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .GroupBy(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Uri.UnescapeDataString(g.First()[1].Replace('+', ' ')), StringComparer.Ordinal);

    private static async Task<(string Method, string Target, Dictionary<string, string> Headers, string Body)?> ReadRequestAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(buffer)) < 0)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0 || buffer.Count > 64 * 1024)
            {
                return null;
            }

            buffer.AddRange(chunk.AsSpan(0, read));
        }

        var head = Encoding.ASCII.GetString([.. buffer.Take(headerEnd)]);
        var lines = head.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        var body = buffer.Skip(headerEnd + 4).ToList();
        var length = headers.TryGetValue("content-length", out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : 0;
        while (body.Count < length)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            body.AddRange(chunk.AsSpan(0, read));
        }

        return (requestLine[0], requestLine.Length > 1 ? requestLine[1] : "/", headers, Encoding.UTF8.GetString([.. body]));
    }

    private static int IndexOfHeaderEnd(List<byte> buffer)
    {
        for (var i = 0; i + 3 < buffer.Count; i++)
        {
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Tests.Kubernetes;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>A request as a fake cloud service saw it.</summary>
internal sealed record SeenRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// An HTTP server on loopback that answers with <see cref="Handler"/>: the base of the fake cloud services. There is no
/// AWS, Google Cloud, Vault or Azure here; each fake speaks its service's protocol and checks each request the way the
/// real service would (authentication header, path, body) before it serves a real public key.
/// </summary>
internal class FakeHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    public FakeHttpServer()
    {
        Address = new Uri($"http://127.0.0.1:{FakeKubernetesApi.FreePort()}/");
        _listener.Prefixes.Add(Address.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public Uri Address { get; }

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public Func<SeenRequest, (HttpStatusCode Status, string Body)> Handler { get; set; } = _ => (HttpStatusCode.NotFound, "{}");

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!.ToLowerInvariant(), k => context.Request.Headers[k]!, StringComparer.Ordinal);
                var request = new SeenRequest(context.Request.HttpMethod, context.Request.Url!.PathAndQuery, headers, body.ToArray());
                Requests.Enqueue(request);
                var (status, answer) = Handler(request);
                context.Response.StatusCode = (int)status;
                context.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(answer);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            });
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _stop.Dispose();
    }
}

/// <summary>
/// AWS KMS's JSON protocol for <c>GetPublicKey</c>: the request must be a POST of <c>application/x-amz-json-1.1</c> with
/// <c>X-Amz-Target: TrentService.GetPublicKey</c>, signed with SigV4 for the credential this fake knows (the signature
/// is recomputed over the request as received, the scope and the clock skew checked) — otherwise it answers as KMS does.
/// </summary>
internal sealed class FakeAwsKms : FakeHttpServer
{
    public FakeAwsKms(string region, AwsCredentials credentials, Func<DateTimeOffset> now)
    {
        Handler = request =>
        {
            if (request.Method != "POST" || request.PathAndQuery != "/" || request.Header("Content-Type") != "application/x-amz-json-1.1")
            {
                return (HttpStatusCode.BadRequest, """{"__type":"UnknownOperationException"}""");
            }

            if (!SignatureHolds(request, region, "kms", credentials, now(), out var problem))
            {
                return (HttpStatusCode.BadRequest, $$"""{"__type":"InvalidSignatureException","message":"{{problem}}"}""");
            }

            if (request.Header("X-Amz-Target") != "TrentService.GetPublicKey")
            {
                return (HttpStatusCode.BadRequest, """{"__type":"UnknownOperationException"}""");
            }

            using var body = JsonDocument.Parse(request.Body);
            var keyId = body.RootElement.GetProperty("KeyId").GetString()!;
            return Keys.TryGetValue(keyId, out var key)
                ? (HttpStatusCode.OK, $$"""{"KeyId":"arn:aws:kms:{{region}}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","KeySpec":"{{key.Spec}}","KeyUsage":"{{key.Usage}}","PublicKey":"{{Convert.ToBase64String(key.Spki)}}","SigningAlgorithms":["{{key.Algorithm}}"]}""")
                : (HttpStatusCode.BadRequest, $$"""{"__type":"NotFoundException","message":"Alias arn:aws:kms:{{region}}:111122223333:{{keyId}} is not found."}""");
        };
    }

    public ConcurrentDictionary<string, (byte[] Spki, string Spec, string Algorithm, string Usage)> Keys { get; } = new(StringComparer.Ordinal);

    /// <summary>What AWS checks of a SigV4 request: the credential scope, the clock, the signed headers, the signature.</summary>
    public static bool SignatureHolds(SeenRequest request, string region, string service, AwsCredentials credentials, DateTimeOffset now, out string problem)
    {
        problem = "";
        var authorization = request.Header("Authorization") ?? "";
        var date = request.Header("X-Amz-Date") ?? "";
        if (!DateTimeOffset.TryParseExact(date, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) || (time - now).Duration() > TimeSpan.FromMinutes(5))
        {
            problem = "Signature expired or X-Amz-Date missing";
            return false;
        }

        var prefix = $"AWS4-HMAC-SHA256 Credential={credentials.AccessKeyId}/{time:yyyyMMdd}/{region}/{service}/aws4_request, SignedHeaders=";
        if (!authorization.StartsWith(prefix, StringComparison.Ordinal))
        {
            problem = "Credential should be scoped to a valid region and service";
            return false;
        }

        var rest = authorization[prefix.Length..];
        var signedHeaders = rest[..rest.IndexOf(',', StringComparison.Ordinal)];
        var signature = rest[(rest.IndexOf("Signature=", StringComparison.Ordinal) + 10)..];
        var names = signedHeaders.Split(';');
        if (!names.Contains("host") || !names.Contains("x-amz-date") || (credentials.SessionToken is not null && !names.Contains("x-amz-security-token")))
        {
            problem = "host, x-amz-date (and the security token) must be signed";
            return false;
        }

        if (credentials.SessionToken is not null && request.Header("X-Amz-Security-Token") != credentials.SessionToken)
        {
            problem = "The security token included in the request is invalid";
            return false;
        }

        var path = request.PathAndQuery.Split('?', 2);
        var canonical = AwsSigV4.CanonicalRequest(
            request.Method,
            path[0],
            path.Length > 1 ? path[1] : "",
            names.Select(n => new KeyValuePair<string, string>(n, request.Header(n) ?? "")),
            Convert.ToHexStringLower(SHA256.HashData(request.Body)),
            out _);
        var expected = AwsSigV4.Signature(credentials.SecretAccessKey, time, region, service, AwsSigV4.StringToSign(time, region, service, canonical));
        if (expected != signature)
        {
            problem = "The request signature we calculated does not match the signature you provided";
            return false;
        }

        return true;
    }
}

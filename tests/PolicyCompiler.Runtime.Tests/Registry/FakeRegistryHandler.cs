using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>A request as the fake saw it, copied before the client disposes it.</summary>
internal sealed record SeenRequest(HttpMethod Method, Uri Uri, AuthenticationHeaderValue? Authorization, string? Accept, string? Body)
{
    public string PathAndQuery => Uri.PathAndQuery;

    public override string ToString() => $"{Method} {Uri} auth={Authorization?.Scheme ?? "none"}";
}

/// <summary>
/// An in-process stand-in for registries and token endpoints, for fault injection: each request goes to the first
/// route whose predicate accepts it, and every request is recorded. A route may answer, throw (a dropped connection)
/// or answer with a body that breaks off midway.
/// </summary>
internal sealed class FakeRegistryHandler : HttpMessageHandler
{
    private readonly List<(Func<SeenRequest, bool> Matches, Func<SeenRequest, int, HttpResponseMessage> Respond)> _routes = [];
    private readonly Dictionary<int, int> _hits = [];
    private readonly Lock _gate = new();

    public List<SeenRequest> Requests { get; } = [];

    public FakeRegistryHandler On(Func<SeenRequest, bool> matches, Func<SeenRequest, int, HttpResponseMessage> respond)
    {
        _routes.Add((matches, respond));
        return this;
    }

    public FakeRegistryHandler On(Func<SeenRequest, bool> matches, Func<SeenRequest, HttpResponseMessage> respond) =>
        On(matches, (request, _) => respond(request));

    /// <summary>Requests whose URI contains <paramref name="fragment"/>.</summary>
    public List<SeenRequest> To(string fragment) => [.. Requests.Where(r => r.Uri.AbsoluteUri.Contains(fragment, StringComparison.Ordinal))];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var seen = new SeenRequest(request.Method, request.RequestUri!, request.Headers.Authorization, request.Headers.Accept.ToString(), body);
        int index;
        int hit;
        lock (_gate)
        {
            Requests.Add(seen);
            index = _routes.FindIndex(r => r.Matches(seen));
            if (index < 0)
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request, Content = new StringContent("no route") };
            }

            _hits[index] = hit = _hits.GetValueOrDefault(index) + 1;
        }

        var response = _routes[index].Respond(seen, hit);
        response.RequestMessage = request;
        return response;
    }

    public static HttpResponseMessage Ok(byte[] content, string? mediaType = null)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) };
        if (mediaType is not null)
        {
            response.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        }

        return response;
    }

    public static HttpResponseMessage Json(string json) => Ok(Encoding.UTF8.GetBytes(json), "application/json");

    public static HttpResponseMessage Status(HttpStatusCode status, TimeSpan? retryAfter = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent("{\"errors\":[]}") };
        if (retryAfter is { } delta)
        {
            response.Headers.RetryAfter = new RetryConditionHeaderValue(delta);
        }

        return response;
    }

    public static HttpResponseMessage Challenge(string scheme, string parameters)
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}") };
        response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue(scheme, parameters));
        return response;
    }

    public static HttpResponseMessage Redirect(Uri location)
    {
        var response = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Content = new ByteArrayContent([]) };
        response.Headers.Location = location;
        return response;
    }

    /// <summary>A 200 whose body delivers the first bytes of <paramref name="content"/> and then loses the connection.</summary>
    public static HttpResponseMessage BrokenBody(byte[] content) =>
        new(HttpStatusCode.OK) { Content = new StreamContent(new BreakingStream(content[..(content.Length / 2)])) };

    /// <summary>What SocketsHttpHandler throws when the peer resets the connection.</summary>
    public static HttpRequestException ConnectionReset() =>
        new(HttpRequestError.ConnectionError, "An error occurred while sending the request.", new IOException("Connection reset by peer"));

    private sealed class BreakingStream(byte[] prefix) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= prefix.Length)
            {
                throw new IOException("Connection reset by peer");
            }

            var n = Math.Min(count, prefix.Length - _position);
            Array.Copy(prefix, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

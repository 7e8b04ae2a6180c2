using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Kubernetes;

/// <summary>
/// The namespace-label reader against <see cref="FakeKubernetesApi"/>, a fake API server on loopback: there is no
/// kube-apiserver to run here, and the failures (404, 500, garbage, slow answers) must be injected anyway.
/// </summary>
public sealed class KubernetesNamespaceLabelsTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();
    private readonly FakeTimeProvider _time = new();
    private readonly string _tokenFile = Path.GetTempFileName();

    public KubernetesNamespaceLabelsTests() => File.WriteAllText(_tokenFile, "token-one\n");

    private KubernetesNamespaceLabels Reader() => new(new KubernetesApi(_api.Address, _tokenFile, caFile: null), TimeSpan.FromSeconds(30), _time);

    [Fact]
    public async Task Reads_the_labels_with_the_service_account_token()
    {
        _api.Namespaces["prod-a"] = """{"kind":"Namespace","metadata":{"name":"prod-a","labels":{"environment":"production","kubernetes.io/metadata.name":"prod-a"}}}""";
        var reader = Reader();

        var labels = await reader.GetLabelsAsync("prod-a", CancellationToken.None);

        Assert.True(labels.Is("environment", "production"));
        Assert.True(labels.Is("kubernetes.io/metadata.name", "prod-a"));
        var request = Assert.Single(_api.Requests);
        Assert.Equal("/api/v1/namespaces/prod-a", request.Path);
        Assert.Equal("Bearer token-one", request.Authorization);
    }

    [Fact]
    public async Task Labels_are_kept_for_their_time_to_live_and_read_again_with_the_rotated_token()
    {
        _api.Namespaces["prod-a"] = """{"metadata":{"labels":{"environment":"production"}}}""";
        var reader = Reader();

        await reader.GetLabelsAsync("prod-a", CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(29));
        await reader.GetLabelsAsync("prod-a", CancellationToken.None);
        Assert.Single(_api.Requests);

        _api.Namespaces["prod-a"] = """{"metadata":{"labels":{"environment":"staging"}}}""";
        File.WriteAllText(_tokenFile, "token-two");
        _time.Advance(TimeSpan.FromSeconds(2));
        var labels = await reader.GetLabelsAsync("prod-a", CancellationToken.None);

        Assert.True(labels.Is("environment", "staging"));
        Assert.Equal(2, _api.Requests.Count);
        Assert.Equal("Bearer token-two", _api.Requests.Last().Authorization);
    }

    [Fact]
    public async Task Concurrent_misses_share_one_request()
    {
        _api.Namespaces["prod-a"] = """{"metadata":{"labels":{"environment":"production"}}}""";
        _api.Delay = TimeSpan.FromMilliseconds(300);
        var reader = Reader();

        var all = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => reader.GetLabelsAsync("prod-a", CancellationToken.None).AsTask()));

        Assert.All(all, labels => Assert.True(labels.Is("environment", "production")));
        Assert.Single(_api.Requests);
    }

    [Fact]
    public async Task Missing_namespace_is_an_error_that_is_not_kept()
    {
        var reader = Reader();

        var first = await Assert.ThrowsAsync<NamespaceLabelException>(() => reader.GetLabelsAsync("ghost", CancellationToken.None).AsTask());
        _api.Namespaces["ghost"] = """{"metadata":{"labels":{"environment":"production"}}}""";
        var labels = await reader.GetLabelsAsync("ghost", CancellationToken.None);

        Assert.Equal("namespace ghost does not exist", first.Message);
        Assert.True(labels.Is("environment", "production"));
        Assert.Equal(2, _api.Requests.Count);
    }

    [Theory]
    [InlineData(500, "{}", "the API server answered 500 to the read of namespace prod-a")]
    [InlineData(403, """{"kind":"Status","message":"forbidden: token-one"}""", "the API server answered 403 to the read of namespace prod-a")]
    [InlineData(200, "{\"metadata\":", "the API server's answer is not JSON")]
    public async Task Bad_answers_are_clear_errors_that_never_repeat_the_token(int status, string body, string message)
    {
        _api.Status = (HttpStatusCode)status;
        _api.Namespaces["prod-a"] = body;
        var reader = Reader();

        var error = await Assert.ThrowsAsync<NamespaceLabelException>(() => reader.GetLabelsAsync("prod-a", CancellationToken.None).AsTask());

        Assert.Equal(message, error.Message);
        Assert.DoesNotContain("token-one", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_answer_is_refused()
    {
        _api.Namespaces["prod-a"] = """{"metadata":{"labels":{"big":" """ + new string('x', 2 << 20) + "\"}}}";
        var reader = Reader();

        var error = await Assert.ThrowsAsync<NamespaceLabelException>(() => reader.GetLabelsAsync("prod-a", CancellationToken.None).AsTask());

        Assert.Equal("the API server's answer is larger than 1 MiB", error.Message);
    }

    [Fact]
    public async Task Unreachable_api_server_is_an_error()
    {
        var port = FakeKubernetesApi.FreePort();
        var reader = new KubernetesNamespaceLabels(new KubernetesApi(new Uri($"http://127.0.0.1:{port}"), null, null), TimeSpan.FromSeconds(30), _time);

        var error = await Assert.ThrowsAsync<NamespaceLabelException>(() => reader.GetLabelsAsync("prod-a", CancellationToken.None).AsTask());

        Assert.StartsWith("the API server is unreachable", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _api.Dispose();
        File.Delete(_tokenFile);
    }
}

/// <summary>
/// A fake Kubernetes API server (plain HTTP on loopback) that serves namespace reads and the RBAC binding lists
/// (paged with <c>limit</c> and <c>continue</c> as the API server pages them) and records every request.
/// </summary>
internal sealed class FakeKubernetesApi : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    public FakeKubernetesApi()
    {
        var port = FreePort();
        Address = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Address.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public Uri Address { get; }

    public ConcurrentDictionary<string, string> Namespaces { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<(string Path, string? Authorization)> Requests { get; } = new();

    /// <summary>Objects served at any path (<c>/apis/…</c>, or a POST target), besides those under <see cref="Namespaces"/>.</summary>
    public ConcurrentDictionary<string, string> Paths { get; } = new(StringComparer.Ordinal);

    /// <summary>Every request's method, path and body, in arrival order.</summary>
    public ConcurrentQueue<(string Method, string Path, string Body)> Calls { get; } = new();

    /// <summary>Every request's path with its query string, in arrival order.</summary>
    public ConcurrentQueue<string> PathsAndQueries { get; } = new();

    /// <summary>RoleBinding objects (JSON) served by <c>GET /apis/rbac.authorization.k8s.io/v1/rolebindings</c>.</summary>
    public List<string> RoleBindings { get; } = [];

    /// <summary>ClusterRoleBinding objects (JSON) served by <c>GET /apis/rbac.authorization.k8s.io/v1/clusterrolebindings</c>.</summary>
    public List<string> ClusterRoleBindings { get; } = [];

    /// <summary>Fault injection for the binding lists: the status every list answers with (200 serves the items).</summary>
    public HttpStatusCode ListStatus { get; set; } = HttpStatusCode.OK;

    /// <summary>Fault injection for the binding lists: a body served instead of the list, with <see cref="ListStatus"/>.</summary>
    public string? ListBody { get; set; }

    public HttpStatusCode Status { get; set; } = HttpStatusCode.OK;

    public TimeSpan Delay { get; set; }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

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

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        Requests.Enqueue((path, context.Request.Headers["Authorization"]));
        using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
        {
            Calls.Enqueue((context.Request.HttpMethod, path, await reader.ReadToEndAsync()));
        }

        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }

        PathsAndQueries.Enqueue(context.Request.Url.PathAndQuery);
        if (path is "/apis/rbac.authorization.k8s.io/v1/rolebindings" or "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
        {
            await AnswerListAsync(context, path.EndsWith("/clusterrolebindings", StringComparison.Ordinal) ? ClusterRoleBindings : RoleBindings);
            return;
        }

        const string Prefix = "/api/v1/namespaces/";
        string? body = null;
        var found = Paths.TryGetValue(path, out body) || (path.StartsWith(Prefix, StringComparison.Ordinal) && Namespaces.TryGetValue(path[Prefix.Length..], out body));
        context.Response.StatusCode = found ? (int)Status : 404;
        context.Response.ContentType = "application/json";
        var bytes = Encoding.UTF8.GetBytes(found ? body! : """{"kind":"Status","code":404}""");
        await context.Response.OutputStream.WriteAsync(bytes);
        context.Response.Close();
    }

    /// <summary>One page of <paramref name="items"/>: from the <c>continue</c> offset, <c>limit</c> items, and the next offset while more remain.</summary>
    private async Task AnswerListAsync(HttpListenerContext context, List<string> items)
    {
        string body;
        if (ListBody is not null || ListStatus != HttpStatusCode.OK)
        {
            body = ListBody ?? """{"kind":"Status","code":500}""";
        }
        else
        {
            var start = int.TryParse(context.Request.QueryString["continue"], out var offset) ? offset : 0;
            var limit = int.TryParse(context.Request.QueryString["limit"], out var l) && l > 0 ? l : int.MaxValue;
            List<string> page;
            lock (items)
            {
                page = items.Skip(start).Take(limit).ToList();
            }

            var more = start + page.Count < items.Count;
            var next = more ? $",\"continue\":\"{start + page.Count}\"" : string.Empty;
            body = $$"""{"kind":"List","metadata":{"resourceVersion":"1"{{next}}},"items":[{{string.Join(",", page)}}]}""";
        }

        context.Response.StatusCode = (int)ListStatus;
        context.Response.ContentType = "application/json";
        await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(body));
        context.Response.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _stop.Dispose();
    }
}

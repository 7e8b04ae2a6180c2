using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A stand-in for the Kubernetes API server (plain HTTP on loopback): the two RBAC lists the webhook reads for
/// <c>roles</c>/<c>clusterRoles</c>, and any other object by path from <see cref="Objects"/> (ConfigMaps of rule
/// contexts); anything else is a 404 as the API server answers it. There is no kube-apiserver in the test environment
/// (no Debian package, nothing to download); the webhook's client is the real one, and failures are injected with
/// <see cref="FailWith"/>.
/// </summary>
public sealed class FakeKubernetesApiServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    public FakeKubernetesApiServer()
    {
        Address = new Uri($"http://127.0.0.1:{FreeTcpPort.Pick().ToString(CultureInfo.InvariantCulture)}/");
        _listener.Prefixes.Add(Address.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public Uri Address { get; }

    /// <summary>Objects (JSON) served at their path, such as <c>/api/v1/namespaces/ns/configmaps/name</c>.</summary>
    public ConcurrentDictionary<string, string> Objects { get; } = new(StringComparer.Ordinal);

    /// <summary>RoleBinding objects (JSON) of every namespace.</summary>
    public ConcurrentQueue<string> RoleBindings { get; } = new();

    /// <summary>ClusterRoleBinding objects (JSON).</summary>
    public ConcurrentQueue<string> ClusterRoleBindings { get; } = new();

    /// <summary>Path and query of every request, with its Authorization header.</summary>
    public ConcurrentQueue<(string PathAndQuery, string? Authorization)> Requests { get; } = new();

    /// <summary>Fault injection: when set, every request is answered with this status and a Status body.</summary>
    public HttpStatusCode? FailWith { get; set; }

    public static string RoleBinding(string @namespace, string name, string roleKind, string role, params (string Kind, string Name, string? Namespace)[] subjects) =>
        $$"""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"{{name}}","namespace":"{{@namespace}}"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"{{roleKind}}","name":"{{role}}"},"subjects":[{{Subjects(subjects)}}]}""";

    public static string ClusterRoleBinding(string name, string role, params (string Kind, string Name, string? Namespace)[] subjects) =>
        $$"""{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"{{name}}"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{{role}}"},"subjects":[{{Subjects(subjects)}}]}""";

    private static string Subjects((string Kind, string Name, string? Namespace)[] subjects) =>
        string.Join(",", subjects.Select(s => s.Namespace is null
            ? $$"""{"kind":"{{s.Kind}}","name":"{{s.Name}}"}"""
            : $$"""{"kind":"{{s.Kind}}","name":"{{s.Name}}","namespace":"{{s.Namespace}}"}"""));

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

            _ = Task.Run(() => Answer(context));
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        Requests.Enqueue((context.Request.Url.PathAndQuery, context.Request.Headers["Authorization"]));
        var (status, body) = FailWith is { } failure
            ? ((int)failure, $$"""{"kind":"Status","code":{{((int)failure).ToString(CultureInfo.InvariantCulture)}}}""")
            : path switch
            {
                "/apis/rbac.authorization.k8s.io/v1/rolebindings" => (200, List(RoleBindings)),
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" => (200, List(ClusterRoleBindings)),
                _ when Objects.TryGetValue(path, out var found) => (200, found),
                _ => (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"""),
            };
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var bytes = Encoding.UTF8.GetBytes(body);
        context.Response.OutputStream.Write(bytes);
        context.Response.Close();
    }

    private static string List(IEnumerable<string> items) =>
        $$"""{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{{string.Join(",", items)}}]}""";

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _stop.Dispose();
    }
}

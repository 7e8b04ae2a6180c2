using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A fake Kubernetes API server on loopback (plain HTTP): the test environment has no cluster, so the objects the webhook
/// reads through <c>Kubernetes:ApiServer</c> (ConfigMaps of rule contexts) are served from <see cref="Objects"/>, keyed by
/// path; anything else is a 404 as the API server answers it. Every request's path is recorded.
/// </summary>
public sealed class FakeKubernetesApiServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    public FakeKubernetesApiServer()
    {
        var port = FreeTcpPort.Pick();
        Address = new Uri("http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture) + "/");
        _listener.Prefixes.Add(Address.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public Uri Address { get; }

    public ConcurrentDictionary<string, string> Objects { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<string> Requests { get; } = new();

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

            var path = context.Request.Url!.AbsolutePath;
            Requests.Enqueue(path);
            var found = Objects.TryGetValue(path, out var body);
            context.Response.StatusCode = found ? 200 : 404;
            context.Response.ContentType = "application/json";
            var bytes = Encoding.UTF8.GetBytes(found ? body! : """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}""");
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _stop.Dispose();
    }
}

using System.Collections.Immutable;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Services;
using PolicyCompiler.Tests.Shared;

namespace PolicyCompiler.Runtime.Tests.Services;

/// <summary>
/// Rule context <c>apiCall.service</c> entries loaded by <see cref="ContextLoader"/> through the real
/// <see cref="ServiceCaller"/>, against <see cref="TestHttpsService"/> (Kestrel over HTTPS on loopback, its certificate
/// issued by a CA made per test).
/// </summary>
public sealed class ServiceCallTests : IAsyncLifetime
{
    private TestHttpsService _service = null!;
    private TestHttpsService _otherService = null!;

    public async Task InitializeAsync()
    {
        _service = await TestHttpsService.StartAsync();
        _otherService = await TestHttpsService.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        await _otherService.DisposeAsync();
    }

    private static JmesValue Text(string value) => JmesValue.From(value);

    private static JmesObject Admission() => new JmesObject(1).Set("request", JmesValue.ParseJson("""{"namespace":"team-a","object":{"spec":{"containers":[{"image":"ghcr.io/org/app:v1"}]}}}"""));

    private static Task<JmesObject> Load(ServiceCaller caller, params ContextEntryDefinition[] entries) =>
        ContextLoader.LoadAsync([.. entries], Admission(), null, new ContextSources(null, caller), new JmesContext(), CancellationToken.None);

    private ServiceCallDefinition Service(string path, bool trustCa = true, ImmutableArray<ServiceHeader> headers = default)
    {
        var url = new Uri(_service.Address, path).ToString();
        var ca = _service.CaPem;
        return new ServiceCallDefinition((_, _) => Text(url), trustCa ? (_, _) => Text(ca) : null, headers);
    }

    [Fact]
    public async Task Get_with_the_ca_bundle_reads_the_answer_and_applies_the_jmespath()
    {
        _service.Answer = _ => new ServiceAnswer(200, """{"verdict":{"allowed":false,"reason":"critical CVE"}}""");
        using var caller = new ServiceCaller();

        var values = await Load(caller, new ApiCallContextEntry(
            "scan",
            null,
            "GET",
            jmesPath: static (input, _) => input.Field("verdict").Field("reason"),
            service: Service("/scan?image=app")));

        Assert.Equal("\"critical CVE\"", values["scan"].ToJsonString());
        var request = Assert.Single(_service.Requests);
        Assert.Equal(("GET", "/scan?image=app"), (request.Method, request.PathAndQuery));
    }

    [Fact]
    public async Task Headers_are_substituted_and_nothing_else_carries_credentials()
    {
        using var caller = new ServiceCaller();

        await Load(caller, new ApiCallContextEntry(
            "scan",
            null,
            "GET",
            service: Service("/scan", headers: [new ServiceHeader("X-Namespace", static (root, _) => root.Field("request").Field("namespace")), new ServiceHeader("X-Api-Key", static (_, _) => Text("k-123"))])));

        var request = Assert.Single(_service.Requests);
        Assert.Equal("team-a", request.Headers["X-Namespace"]);
        Assert.Equal("k-123", request.Headers["X-Api-Key"]);
        // The webhook's service-account token (or any token) is never added by the caller.
        Assert.False(request.Headers.ContainsKey("Authorization"));
        Assert.False(request.Headers.ContainsKey("Cookie"));
    }

    [Fact]
    public async Task Authorization_written_by_the_policy_is_sent_as_written()
    {
        using var caller = new ServiceCaller();

        await Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan", headers: [new ServiceHeader("Authorization", static (_, _) => Text("Bearer policy-token"))])));

        Assert.Equal("Bearer policy-token", Assert.Single(_service.Requests).Headers["Authorization"]);
    }

    [Fact]
    public async Task Post_sends_its_data_as_a_json_body()
    {
        _service.Answer = r => new ServiceAnswer(200, r.Body);
        using var caller = new ServiceCaller();

        var values = await Load(caller, new ApiCallContextEntry(
            "scan",
            null,
            "POST",
            data: [new ApiCallData("images", static (root, c) => Jmes.Project(root.Field("request").Field("object").Field("spec").Field("containers"), static (v, _) => v.Field("image"), c)), new ApiCallData("namespace", static (root, _) => root.Field("request").Field("namespace"))],
            service: Service("/check")));

        var request = Assert.Single(_service.Requests);
        Assert.Equal("POST", request.Method);
        Assert.StartsWith("application/json", request.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.Equal("""{"images":["ghcr.io/org/app:v1"],"namespace":"team-a"}""", request.Body);
        Assert.Equal("""{"images":["ghcr.io/org/app:v1"],"namespace":"team-a"}""", values["scan"].ToJsonString());
    }

    [Fact]
    public async Task Without_a_ca_bundle_only_the_system_roots_are_trusted()
    {
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan", trustCa: false))));

        Assert.True(e.IsTransient);
        Assert.Contains("failed to fetch data for APICall scan: " + _service.Address + "scan could not be reached (its TLS certificate is not trusted", e.Message, StringComparison.Ordinal);
        Assert.Empty(_service.Requests);
    }

    [Fact]
    public async Task A_ca_bundle_is_the_only_trust_of_its_call()
    {
        // The other service's CA does not vouch for this service, whatever the system roots hold.
        var url = new Uri(_service.Address, "/scan").ToString();
        var otherCa = _otherService.CaPem;
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: new ServiceCallDefinition((_, _) => Text(url), (_, _) => Text(otherCa)))));

        Assert.Contains("its TLS certificate is not trusted", e.Message, StringComparison.Ordinal);
        Assert.Empty(_service.Requests);
    }

    [Fact]
    public async Task Default_replaces_the_answer_when_the_call_fails()
    {
        _service.Answer = _ => new ServiceAnswer(503, "down for maintenance", "text/plain");
        using var caller = new ServiceCaller();

        var values = await Load(caller, new ApiCallContextEntry("scan", null, "GET", @default: static (_, _) => JmesValue.ParseJson("""{"allowed":true}"""), service: Service("/scan")));

        Assert.Equal("""{"allowed":true}""", values["scan"].ToJsonString());
        Assert.Single(_service.Requests);
    }

    [Theory]
    [InlineData(503, true)]
    [InlineData(429, true)]
    [InlineData(404, false)]
    [InlineData(403, false)]
    public async Task An_error_status_fails_the_entry_with_the_start_of_the_answer(int status, bool transient)
    {
        _service.Answer = _ => new ServiceAnswer(status, "{\"error\":\"nope\"}\n");
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan?token=secret"))));

        Assert.Equal(transient, e.IsTransient);
        Assert.StartsWith($"failed to fetch data for APICall scan: HTTP {status} ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith($" from {_service.Address}scan: {{\"error\":\"nope\"}}", e.Message, StringComparison.Ordinal);
        // The query (which may carry a token) stays out of the message.
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        var target = new Uri(_otherService.Address, "/elsewhere").ToString();
        _service.Answer = _ => new ServiceAnswer(302, string.Empty, Location: target);
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan", headers: [new ServiceHeader("X-Api-Key", static (_, _) => Text("k-123"))]))));

        Assert.Contains($"HTTP 302 Found from {_service.Address}scan", e.Message, StringComparison.Ordinal);
        Assert.False(e.IsTransient);
        Assert.Empty(_otherService.Requests);
    }

    [Fact]
    public async Task An_answer_larger_than_the_limit_fails_the_entry()
    {
        _service.Answer = _ => new ServiceAnswer(200, "[" + string.Join(",", Enumerable.Repeat("\"xxxxxxxxxxxxxxxxxxxx\"", 5000)) + "]");
        using var caller = new ServiceCaller(new ServiceCallOptions { MaxResponseBytes = 64 * 1024 });

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan"))));

        Assert.False(e.IsTransient);
        Assert.Contains("is larger than the 65536 bytes allowed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_that_is_not_json_fails_the_entry()
    {
        _service.Answer = _ => new ServiceAnswer(200, "<html>ok</html>", "text/html");
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan"))));

        Assert.False(e.IsTransient);
        Assert.EndsWith($"the answer of {_service.Address}scan is not JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_service_slower_than_the_timeout_is_a_transient_failure()
    {
        _service.Delay = TimeSpan.FromSeconds(5);
        using var caller = new ServiceCaller(new ServiceCallOptions { Timeout = TimeSpan.FromMilliseconds(300) });

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan"))));

        Assert.True(e.IsTransient);
        Assert.Contains("did not answer within 0.3s", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/scan", true)]
    [InlineData("/scan/deep", true)]
    [InlineData("/scanner", false)]
    [InlineData("/scan/../metadata", false)]
    [InlineData("/other", false)]
    public async Task With_an_allowlist_only_urls_below_an_entry_are_called(string path, bool allowed)
    {
        using var caller = new ServiceCaller(new ServiceCallOptions { Allowlist = [new Uri(_service.Address, "/scan/")] });
        var entry = new ApiCallContextEntry("scan", null, "GET", service: Service(path));

        if (allowed)
        {
            await Load(caller, entry);
            Assert.Single(_service.Requests);
        }
        else
        {
            var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, entry));
            Assert.False(e.IsTransient);
            Assert.EndsWith("is not permitted: no Context:ServiceAllowlist entry matches it", e.Message, StringComparison.Ordinal);
            Assert.Empty(_service.Requests);
        }
    }

    [Fact]
    public async Task An_allowlist_entry_names_one_host_and_port()
    {
        // The same path on another service (another port of the same host) is not allowed.
        using var caller = new ServiceCaller(new ServiceCallOptions { Allowlist = [new Uri(_otherService.Address, "/scan")] });

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan"))));

        Assert.Contains("is not permitted", e.Message, StringComparison.Ordinal);
        Assert.Empty(_service.Requests);
    }

    [Fact]
    public async Task A_header_name_from_a_variable_is_sent_as_substituted()
    {
        using var caller = new ServiceCaller();

        await Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan", headers: [new ServiceHeader("X-{{ request.namespace }}", static (_, _) => Text("yes"), static (root, _) => Text("X-" + root.Field("request").Field("namespace").GetString()))])));

        Assert.Equal("yes", Assert.Single(_service.Requests).Headers["X-team-a"]);
    }

    [Theory]
    [InlineData("X team-a", "X team-a")]
    [InlineData("X-Team:a", "X-Team:a")]
    [InlineData("X-Team\r\nInjected: 1", "X-Team\\r\\nInjected: 1")]
    [InlineData("", "")]
    public async Task A_header_name_from_a_variable_that_is_not_a_token_fails_the_entry_without_a_call(string name, string shown)
    {
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: Service("/scan", headers: [new ServiceHeader("{{ name }}", static (_, _) => Text("v"), (_, _) => Text(name))]))));

        Assert.False(e.IsTransient);
        Assert.Equal($"failed to fetch data for APICall scan: the header name \"{shown}\" is not an HTTP header name (a token: letters, digits and !#$%&'*+-.^_`|~)", e.Message);
        Assert.Empty(_service.Requests);
    }

    [Theory]
    [InlineData("ftp://files.example/x")]
    [InlineData("/relative/path")]
    public async Task A_substituted_url_that_is_not_absolute_http_fails_without_a_call(string url)
    {
        using var caller = new ServiceCaller();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: new ServiceCallDefinition((_, _) => Text(url)))));

        Assert.False(e.IsTransient);
        Assert.Equal($"failed to fetch data for APICall scan: the service URL \"{url}\" is not an absolute http or https URL", e.Message);
    }

    [Fact]
    public async Task A_ca_bundle_variable_that_is_not_pem_fails_the_entry()
    {
        using var caller = new ServiceCaller();
        var url = new Uri(_service.Address, "/scan").ToString();

        var e = await Assert.ThrowsAsync<ContextDataException>(() => Load(caller, new ApiCallContextEntry("scan", null, "GET", service: new ServiceCallDefinition((_, _) => Text(url), (_, _) => Text("not a certificate")))));

        Assert.False(e.IsTransient);
        Assert.Contains("caBundle holds no PEM certificate", e.Message, StringComparison.Ordinal);
        Assert.Empty(_service.Requests);
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PolicyCompiler.Tests.Shared;

/// <summary>One request as the test service received it.</summary>
public sealed record ReceivedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>What the test service answers: a status, a body and its content type.</summary>
public sealed record ServiceAnswer(int Status, string Body, string ContentType = "application/json", string? Location = null);

/// <summary>
/// A small HTTPS service on loopback (Kestrel) standing for the services that rule contexts call with
/// <c>apiCall.service</c>: its certificate (for 127.0.0.1 and localhost) is issued by a CA made per instance, so a client
/// must trust <see cref="CaPem"/> to reach it. Every request is recorded; <see cref="Answer"/> decides the reply.
/// </summary>
public sealed class TestHttpsService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestHttpsService(WebApplication app, string caPem, Uri address)
    {
        _app = app;
        CaPem = caPem;
        Address = address;
    }

    /// <summary>The issuing CA, as a PEM certificate: what <c>caBundle</c> must hold.</summary>
    public string CaPem { get; }

    /// <summary><c>https://127.0.0.1:port/</c>.</summary>
    public Uri Address { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Decides each answer; by default every request gets <c>{"ok":true}</c>.</summary>
    public Func<ReceivedRequest, ServiceAnswer> Answer { get; set; } = _ => new ServiceAnswer(200, """{"ok":true}""");

    /// <summary>Fault injection: how long the service waits before it answers.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Starts the service; <paramref name="port"/> 0 picks a free one.</summary>
    public static async Task<TestHttpsService> StartAsync(int port = 0)
    {
        var (caPem, serverCertificate) = IssueCertificates();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.UseHttps(serverCertificate)));
        var app = builder.Build();
        TestHttpsService? service = null;
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var request = new ReceivedRequest(
                context.Request.Method,
                context.Request.Path + context.Request.QueryString,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body);
            service!.Requests.Enqueue(request);
            if (service.Delay > TimeSpan.Zero)
            {
                await Task.Delay(service.Delay, context.RequestAborted);
            }

            var answer = service.Answer(request);
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = answer.ContentType;
            if (answer.Location is not null)
            {
                context.Response.Headers.Location = answer.Location;
            }

            await context.Response.WriteAsync(answer.Body, context.RequestAborted);
        });
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        service = new TestHttpsService(app, caPem, new Uri(new Uri(bound).GetLeftPart(UriPartial.Authority) + "/"));
        return service;
    }

    /// <summary>A CA, and a server certificate it issues for loopback (with its private key, for Kestrel).</summary>
    private static (string CaPem, X509Certificate2 Server) IssueCertificates()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=policycompiler test service CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=policycompiler test service", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = request.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
        using var withKey = issued.CopyWithPrivateKey(key);
        // Kestrel wants a certificate whose key it can use on every platform: a PKCS#12 round trip gives one.
        var server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (ca.ExportCertificatePem(), server);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

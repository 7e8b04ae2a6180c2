using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;
using BcInteger = Org.BouncyCastle.Math.BigInteger;

namespace PolicyCompiler.Runtime.Tests.Infrastructure;

/// <summary>How the test double answers a request, so a test can inject one fault at a time.</summary>
public enum RevocationAnswer
{
    /// <summary>A real answer: OCSP good/revoked by the revoked serials, or the CRL listing them.</summary>
    Real,

    /// <summary>HTTP 200 with bytes that are no OCSP response or CRL.</summary>
    Malformed,

    /// <summary>HTTP 500.</summary>
    ServerError,

    /// <summary>A well-formed answer signed by a key that is not the issuer's.</summary>
    WrongSigner,

    /// <summary>An answer that arrives after Notation's timeout.</summary>
    Slow,

    /// <summary>OCSP only: the responder says "unknown" for every certificate.</summary>
    UnknownStatus,
}

/// <summary>
/// A test double of a certificate authority's revocation services: an OCSP responder and a CRL distribution point on
/// loopback HTTP, for a CA made here (root, intermediate) that issues code-signing leaves whose authority information
/// access and CRL distribution points name this service. The answers are real RFC 6960 / RFC 5280 bytes made and
/// signed by BouncyCastle, a second implementation, so the runtime's reader is not checked against bytes it shaped.
/// Paths: <c>/{issuer}/ocsp</c> and <c>/{issuer}/crl</c>, issuer <c>intermediate</c> (for leaves) or <c>root</c> (for
/// the intermediate, when it names endpoints).
/// </summary>
internal sealed class TestRevocationAuthority : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
    private readonly ECDsa _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _strangerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private int _serial = 100;

    private TestRevocationAuthority(WebApplication app, Uri address, bool intermediateEndpoints)
    {
        _app = app;
        Address = address;
        var from = DateTimeOffset.UtcNow.AddDays(-2);
        var rootRequest = new CertificateRequest("CN=revocation test root, O=PolicyCompiler tests", _rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Root = rootRequest.CreateSelfSigned(from, from.AddYears(3));

        var intermediateRequest = new CertificateRequest("CN=revocation test intermediate, O=PolicyCompiler tests", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        if (intermediateEndpoints)
        {
            intermediateRequest.CertificateExtensions.Add(new X509AuthorityInformationAccessExtension([Url("root/ocsp")], null));
            intermediateRequest.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([Url("root/crl")]));
        }

        using var issued = intermediateRequest.Create(Root, from, from.AddYears(2), [0x10]);
        Intermediate = issued.CopyWithPrivateKey(_intermediateKey);
    }

    public Uri Address { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    /// <summary>Serial numbers (as issued by <see cref="IssueSigner"/>, or 0x10 for the intermediate) now revoked.</summary>
    public ConcurrentDictionary<long, bool> Revoked { get; } = new();

    /// <summary>For revoked serials listed here, the CRL entry's invalidity date (when the key became untrustworthy).</summary>
    public ConcurrentDictionary<long, DateTime> InvalidFrom { get; } = new();

    public RevocationAnswer Ocsp { get; set; }

    public RevocationAnswer Crl { get; set; }

    /// <summary>The paths asked, in order (e.g. <c>GET /intermediate/ocsp</c>).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<TestRevocationAuthority> StartAsync(bool intermediateEndpoints = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        TestRevocationAuthority? authority = null;
        app.Run(context => authority!.AnswerAsync(context));
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        authority = new TestRevocationAuthority(app, new Uri(new Uri(bound).GetLeftPart(UriPartial.Authority) + "/"), intermediateEndpoints);
        return authority;
    }

    /// <summary>An http URL on loopback where nothing listens (a port bound, then released).</summary>
    public static string Unreachable(string path)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return $"http://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}/{path}";
    }

    public string Url(string path) => new Uri(Address, path).ToString();

    /// <summary>
    /// A signer whose leaf, issued by <see cref="Intermediate"/>, names <paramref name="ocsp"/> responders and
    /// <paramref name="crl"/> distribution points (none when empty); its serial is <paramref name="serial"/>.
    /// </summary>
    public Notary.NotationTestSigner IssueSigner(IReadOnlyList<string> ocsp, IReadOnlyList<string> crl, out long serial)
    {
        serial = Interlocked.Increment(ref _serial);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=revocation test signer {serial}, O=PolicyCompiler tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false));
        if (ocsp.Count > 0)
        {
            request.CertificateExtensions.Add(new X509AuthorityInformationAccessExtension(ocsp, null));
        }

        if (crl.Count > 0)
        {
            request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension(crl));
        }

        var from = DateTimeOffset.UtcNow.AddDays(-1);
        var leaf = request.Create(Intermediate, from, from.AddYears(1), BitConverter.GetBytes(serial).Reverse().SkipWhile(b => b == 0).ToArray());
        return new Notary.NotationTestSigner(
            X509CertificateLoader.LoadCertificate(Root.RawData),
            X509CertificateLoader.LoadCertificate(Intermediate.RawData),
            leaf,
            key);
    }

    private async Task AnswerAsync(HttpContext context)
    {
        var segments = (context.Request.Path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        Requests.Enqueue($"{context.Request.Method} /{string.Join('/', segments.Take(2))}");
        if (segments.Length < 2 || segments[0] is not ("root" or "intermediate") || segments[1] is not ("ocsp" or "crl"))
        {
            context.Response.StatusCode = 404;
            return;
        }

        var byRoot = segments[0] == "root";
        var issuer = byRoot ? Root : Intermediate;
        var issuerKey = byRoot ? _rootKey : _intermediateKey;
        var mode = segments[1] == "ocsp" ? Ocsp : Crl;
        switch (mode)
        {
            case RevocationAnswer.Malformed:
                await context.Response.Body.WriteAsync("<html>not what you asked for</html>"u8.ToArray(), context.RequestAborted);
                return;
            case RevocationAnswer.ServerError:
                context.Response.StatusCode = 500;
                return;
            case RevocationAnswer.Slow:
                await Task.Delay(TimeSpan.FromSeconds(6), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
        }

        var signingKey = mode == RevocationAnswer.WrongSigner ? _strangerKey : issuerKey;
        byte[] body;
        if (segments[1] == "ocsp")
        {
            byte[] request;
            if (HttpMethods.IsGet(context.Request.Method))
            {
                request = Convert.FromBase64String(Uri.UnescapeDataString(string.Join('/', segments.Skip(2))));
            }
            else
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
                request = buffer.ToArray();
            }

            body = OcspAnswer(new OcspReq(request), issuer, signingKey, mode == RevocationAnswer.UnknownStatus);
            context.Response.ContentType = "application/ocsp-response";
        }
        else
        {
            body = CrlAnswer(issuer, signingKey);
            context.Response.ContentType = "application/pkix-crl";
        }

        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private byte[] OcspAnswer(OcspReq request, X509Certificate2 issuer, ECDsa signingKey, bool unknown)
    {
        var now = DateTime.UtcNow;
        var generator = new BasicOcspRespGenerator(new RespID(new BcCertificate(issuer.RawData).SubjectDN));
        foreach (var single in request.GetRequestList())
        {
            var id = single.GetCertID();
            CertificateStatus? status = unknown
                ? new UnknownStatus()
                : Revoked.ContainsKey(id.SerialNumber.LongValue) ? new RevokedStatus(now.AddHours(-1), CrlReason.KeyCompromise) : CertificateStatus.Good;
            generator.AddResponse(id, status, now.AddMinutes(-5), now.AddHours(1), null);
        }

        var signer = new Asn1SignatureFactory("SHA256WITHECDSA", DotNetUtilities.GetECDsaKeyPair(signingKey).Private);
        var basic = generator.Generate(signer, null, now);
        return new OCSPRespGenerator().Generate(OCSPRespGenerator.Successful, basic).GetEncoded();
    }

    private byte[] CrlAnswer(X509Certificate2 issuer, ECDsa signingKey)
    {
        var now = DateTime.UtcNow;
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(new BcCertificate(issuer.RawData).SubjectDN);
        generator.SetThisUpdate(now.AddMinutes(-5));
        generator.SetNextUpdate(now.AddHours(1));
        foreach (var serial in Revoked.Keys)
        {
            if (InvalidFrom.TryGetValue(serial, out var invalidFrom))
            {
                generator.AddCrlEntry(BcInteger.ValueOf(serial), now.AddHours(-1), CrlReason.KeyCompromise, invalidFrom);
            }
            else
            {
                generator.AddCrlEntry(BcInteger.ValueOf(serial), now.AddHours(-1), CrlReason.KeyCompromise);
            }
        }

        return generator.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", DotNetUtilities.GetECDsaKeyPair(signingKey).Private)).GetEncoded();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Root.Dispose();
        Intermediate.Dispose();
        _rootKey.Dispose();
        _intermediateKey.Dispose();
        _strangerKey.Dispose();
    }
}

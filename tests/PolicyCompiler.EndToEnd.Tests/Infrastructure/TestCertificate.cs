using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A self-signed ECDSA P-256 server certificate for 127.0.0.1, made per test run, and HTTP clients that trust
/// exactly that certificate: the certificate is the only trust anchor of their chain policy, and host-name
/// checks stay on. Nothing here turns certificate validation off.
/// </summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 certificate, string privateKeyPem, X509Certificate2? issuer = null)
    {
        Certificate = certificate;
        PrivateKeyPem = privateKeyPem;
        Issuer = issuer;
    }

    /// <summary>The public certificate (no private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The CA that issued <see cref="Certificate"/>; null for a self-signed certificate.</summary>
    public X509Certificate2? Issuer { get; }

    /// <summary>What a client must trust: the issuing CA, or the self-signed certificate itself.</summary>
    public X509Certificate2 TrustAnchor => Issuer ?? Certificate;

    public string TrustAnchorPem => TrustAnchor.ExportCertificatePem();

    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>The private key as PKCS#8 PEM (<c>-----BEGIN PRIVATE KEY-----</c>).</summary>
    public string PrivateKeyPem { get; }

    public static TestCertificate CreateForLoopback(string commonName = "policycompiler-e2e")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + commonName), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "serverAuth")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));

        var now = DateTimeOffset.UtcNow;
        using var withKey = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
        var publicOnly = X509CertificateLoader.LoadCertificate(withKey.RawData);
        return new TestCertificate(publicOnly, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A private CA (a self-signed CA certificate with its key) that <see cref="Issue"/> signs certificates with.</summary>
    public static TestCertificate CreateAuthority(string commonName = "policycompiler-e2e CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + commonName), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));

        var now = DateTimeOffset.UtcNow;
        using var withKey = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
        return new TestCertificate(X509CertificateLoader.LoadCertificate(withKey.RawData), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// A certificate for 127.0.0.1 and localhost signed by this CA (made with <see cref="CreateAuthority"/>): a TLS
    /// server certificate, or, with <paramref name="serverAuthentication"/> false, a plain signing certificate (the
    /// token server's JWT key).
    /// </summary>
    public TestCertificate Issue(string commonName, bool serverAuthentication = true)
    {
        using var issuerKey = ECDsa.Create();
        issuerKey.ImportFromPem(PrivateKeyPem);
        using var issuer = Certificate.CopyWithPrivateKey(issuerKey);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + commonName), key, HashAlgorithmName.SHA256);
        if (serverAuthentication)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "serverAuth")], critical: false));
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));

        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(issuer, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(12));
        return new TestCertificate(X509CertificateLoader.LoadCertificate(issued.RawData), key.ExportPkcs8PrivateKeyPem(), X509CertificateLoader.LoadCertificate(Certificate.RawData));
    }

    /// <summary>The certificate with its private key, for a TLS server in the test process.</summary>
    public X509Certificate2 CreateServerCertificate()
    {
        using var ephemeral = X509Certificate2.CreateFromPem(CertificatePem, PrivateKeyPem);
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>Writes <c>cert.pem</c> and <c>key.pem</c> into <paramref name="directory"/>.</summary>
    public (string CertificateFile, string KeyFile) WritePemFiles(string directory, string baseName = "tls")
    {
        Directory.CreateDirectory(directory);
        var certificateFile = Path.Combine(directory, baseName + ".cert.pem");
        var keyFile = Path.Combine(directory, baseName + ".key.pem");
        File.WriteAllText(certificateFile, CertificatePem, Encoding.ASCII);
        File.WriteAllText(keyFile, PrivateKeyPem, Encoding.ASCII);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return (certificateFile, keyFile);
    }

    /// <summary>A handler whose TLS validation trusts this certificate and nothing else.</summary>
    public SocketsHttpHandler CreatePinnedHandler()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificate(TrustAnchor.RawData));
        return new SocketsHttpHandler
        {
            SslOptions = { CertificateChainPolicy = policy },
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
    }

    public HttpClient CreatePinnedClient(Uri baseAddress, TimeSpan? timeout = null)
    {
        var client = new HttpClient(CreatePinnedHandler(), disposeHandler: true)
        {
            BaseAddress = baseAddress,
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
        };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("policycompiler-e2e", "1.0"));
        return client;
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Issuer?.Dispose();
    }
}

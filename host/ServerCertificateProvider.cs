using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Host;

/// <summary>
/// Supplies Kestrel's server certificate: from PEM files, re-read when they change (cert-manager rotates them in
/// place), or a self-signed development certificate created at start when no files are configured.
/// </summary>
public sealed class ServerCertificateProvider
{
    private readonly TlsOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private X509Certificate2 _current;
    private Task<SslStreamCertificateContext> _context;
    private DateTime _certificateWrite;
    private DateTime _keyWrite;
    private DateTimeOffset _nextCheck;

    public ServerCertificateProvider(TlsOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        if (UsesFiles)
        {
            _current = LoadFromFiles();
        }
        else
        {
            _current = CreateDevelopmentCertificate(options.DevelopmentCertificateNames);
            if (!string.IsNullOrEmpty(options.DevelopmentCertificateOutput))
            {
                File.WriteAllText(options.DevelopmentCertificateOutput, _current.ExportCertificatePem() + "\n");
            }
        }

        _context = PrepareContext(_current);
        _nextCheck = time.GetUtcNow() + options.ReloadInterval;
    }

    private bool UsesFiles => !string.IsNullOrEmpty(_options.CertificateFile);

    public X509Certificate2 Current
    {
        get
        {
            if (UsesFiles && _time.GetUtcNow() >= _nextCheck)
            {
                ReloadIfChanged();
            }

            return _current;
        }
    }

    /// <summary>
    /// The TLS context of <see cref="Current"/>, built once per certificate instead of per handshake. Building it loads
    /// the system trust store (about 120 ms on the first handshake, measured), so it is started in the background as
    /// soon as the certificate is read, while Kestrel starts.
    /// </summary>
    public SslStreamCertificateContext CurrentContext
    {
        get
        {
            _ = Current;
            return _context.GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// Loads the process-wide copy of the system root store, the one chain building uses, so that the first
    /// <see cref="SslStreamCertificateContext"/> finds it loaded.
    /// </summary>
    public static void LoadSystemTrustStore()
    {
        using var store = new X509Store(StoreName.Root, StoreLocation.LocalMachine);
        store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
        foreach (var certificate in store.Certificates)
        {
            certificate.Dispose();
        }
    }

    private static Task<SslStreamCertificateContext> PrepareContext(X509Certificate2 certificate) =>
        Task.Run(() => SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true));

    public void LogSource(ILogger logger)
    {
        if (UsesFiles)
        {
            logger.LogInformation("TLS certificate {Subject} (SHA-256 {Thumbprint}) from {File}", _current.Subject, _current.GetCertHashString(HashAlgorithmName.SHA256), _options.CertificateFile);
        }
        else
        {
            logger.LogWarning("No Tls:CertificateFile configured: serving a self-signed development certificate (SHA-256 {Thumbprint})", _current.GetCertHashString(HashAlgorithmName.SHA256));
        }
    }

    private void ReloadIfChanged()
    {
        lock (_gate)
        {
            if (_time.GetUtcNow() < _nextCheck)
            {
                return;
            }

            _nextCheck = _time.GetUtcNow() + _options.ReloadInterval;
            try
            {
                if (File.GetLastWriteTimeUtc(_options.CertificateFile!) != _certificateWrite || File.GetLastWriteTimeUtc(KeyFile) != _keyWrite)
                {
                    var loaded = LoadFromFiles();
                    _context = PrepareContext(loaded);
                    _current = loaded;
                }
            }
            catch (Exception e) when (e is IOException or CryptographicException or UnauthorizedAccessException)
            {
                // A rotation caught half-written keeps the old certificate; the next check tries again.
            }
        }
    }

    private string KeyFile => string.IsNullOrEmpty(_options.KeyFile) ? _options.CertificateFile! : _options.KeyFile;

    private X509Certificate2 LoadFromFiles()
    {
        _certificateWrite = File.GetLastWriteTimeUtc(_options.CertificateFile!);
        _keyWrite = File.GetLastWriteTimeUtc(KeyFile);
        return X509Certificate2.CreateFromPemFile(_options.CertificateFile!, KeyFile);
    }

    private static X509Certificate2 CreateDevelopmentCertificate(IEnumerable<string> extraNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=policy-compiler development", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        foreach (var name in extraNames)
        {
            names.AddDnsName(name);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(90));
    }
}

using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// The TLS decision for registries: what the system accepts stays accepted; chain errors are forgiven only for a
/// chain that ends at a CA of the configured bundle; a wrong host name is never forgiven.
/// </summary>
public sealed class RegistryTrustTests : IDisposable
{
    private readonly TestPki _pki = TestPki.Create();
    private readonly TestPki _stranger = TestPki.Create();

    public void Dispose()
    {
        _pki.Dispose();
        _stranger.Dispose();
    }

    [Fact]
    public void CertificateTheSystemAcceptsIsAccepted()
    {
        var trust = new RegistryTrust();

        Assert.Null(trust.Check(_pki.Leaf, null, SslPolicyErrors.None));
    }

    [Fact]
    public void ChainToTheBundleCaIsAccepted()
    {
        var trust = new RegistryTrust([_pki.Root]);

        Assert.Null(trust.Check(_pki.Leaf, ServerChain(_pki), SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void ChainToAnotherCaIsRejectedWithTheReason()
    {
        var trust = new RegistryTrust([_stranger.Root]);

        var reason = trust.Check(_pki.Leaf, ServerChain(_pki), SslPolicyErrors.RemoteCertificateChainErrors);

        Assert.NotNull(reason);
        Assert.StartsWith("the certificate chain is trusted neither by the system roots nor by Registry:CaBundleFile (", reason, StringComparison.Ordinal);
        Assert.Matches("\\((UntrustedRoot|PartialChain)[^)]*\\)$", reason);
    }

    [Fact]
    public void ChainErrorWithoutABundleNamesTheSetting()
    {
        var reason = new RegistryTrust().Check(_pki.Leaf, ServerChain(_pki), SslPolicyErrors.RemoteCertificateChainErrors);

        Assert.NotNull(reason);
        Assert.EndsWith("configure Registry:CaBundleFile for a private CA", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NameMismatchIsRejectedEvenWithATrustedCa()
    {
        var trust = new RegistryTrust([_pki.Root]);

        var reason = trust.Check(_pki.Leaf, ServerChain(_pki), SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors);

        Assert.Equal("the certificate does not name the registry host", reason);
    }

    [Fact]
    public void LeafWithoutServerAuthenticationUsageIsRejected()
    {
        using var clientOnly = _pki.Issue("client", "1.3.6.1.5.5.7.3.2");
        var trust = new RegistryTrust([_pki.Root]);

        Assert.NotNull(trust.Check(clientOnly, ServerChain(_pki), SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void MissingCertificateIsRejected()
    {
        Assert.Equal("the registry presented no certificate", new RegistryTrust([_pki.Root]).Check(null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void BundleFileIsReadAndMustHoldACertificate()
    {
        var directory = Directory.CreateTempSubdirectory("policycompiler-ca-");
        try
        {
            var bundle = Path.Combine(directory.FullName, "ca.pem");
            File.WriteAllText(bundle, _pki.Root.ExportCertificatePem() + "\n" + _stranger.Root.ExportCertificatePem());
            var empty = Path.Combine(directory.FullName, "empty.pem");
            File.WriteAllText(empty, "no certificates here\n");

            Assert.Equal(2, RegistryTrust.FromBundleFile(bundle).AdditionalRoots.Count);

            // `cat` of PEM files that lack a final newline.
            var glued = Path.Combine(directory.FullName, "glued.pem");
            File.WriteAllText(glued, _pki.Root.ExportCertificatePem() + _stranger.Root.ExportCertificatePem() + _pki.Intermediate.ExportCertificatePem());
            Assert.Equal(3, RegistryTrust.FromBundleFile(glued).AdditionalRoots.Count);
            Assert.Contains("holds no PEM certificate", Assert.Throws<InvalidOperationException>(() => RegistryTrust.FromBundleFile(empty)).Message, StringComparison.Ordinal);
            Assert.Throws<InvalidOperationException>(() => RegistryTrust.FromBundleFile(Path.Combine(directory.FullName, "absent.pem")));

            var options = new RegistryOptions { CaBundleFile = bundle };
            using var client = new RegistryClient(options);
            Assert.Equal(2, client.Trust.AdditionalRoots.Count);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The chain SslStream hands the callback: built by the system, with the server's intermediates in ExtraStore.</summary>
    private static X509Chain ServerChain(TestPki pki)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.Add(pki.Intermediate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.Build(pki.Leaf);
        return chain;
    }

    /// <summary>A root CA, an intermediate CA and a server certificate for 127.0.0.1, made per test.</summary>
    private sealed class TestPki : IDisposable
    {
        private readonly ECDsa _intermediateKey;

        private TestPki(X509Certificate2 root, X509Certificate2 intermediate, ECDsa intermediateKey)
        {
            Root = root;
            Intermediate = intermediate;
            _intermediateKey = intermediateKey;
            Leaf = Issue("registry", "1.3.6.1.5.5.7.3.1");
        }

        public X509Certificate2 Root { get; }

        public X509Certificate2 Intermediate { get; }

        public X509Certificate2 Leaf { get; }

        public static TestPki Create()
        {
            var now = DateTimeOffset.UtcNow;
            using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var rootRequest = new CertificateRequest("CN=test root", rootKey, HashAlgorithmName.SHA256);
            rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
            using var root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

            var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var intermediateRequest = new CertificateRequest("CN=test intermediate", intermediateKey, HashAlgorithmName.SHA256);
            intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
            intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
            using var intermediate = intermediateRequest.Create(root, now.AddMinutes(-5), now.AddDays(1), [1, 2, 3, 4]);

            return new TestPki(X509CertificateLoader.LoadCertificate(root.RawData), X509CertificateLoader.LoadCertificate(intermediate.RawData), intermediateKey);
        }

        public X509Certificate2 Issue(string name, string usage)
        {
            var now = DateTimeOffset.UtcNow;
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
            using var withIssuerKey = Intermediate.CopyWithPrivateKey(_intermediateKey);
            using var issued = request.Create(withIssuerKey, now.AddMinutes(-5), now.AddHours(12), RandomNumberGenerator.GetBytes(8));
            return X509CertificateLoader.LoadCertificate(issued.RawData);
        }

        public void Dispose()
        {
            Root.Dispose();
            Intermediate.Dispose();
            Leaf.Dispose();
            _intermediateKey.Dispose();
        }
    }
}

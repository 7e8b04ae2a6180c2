using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// Which TLS server certificates the registry client accepts: what the system roots accept, and in addition chains
/// that end at a CA of the configured bundle (<see cref="RegistryOptions.CaBundleFile"/>). The host name is always
/// checked; revocation is not (registries with a private CA rarely publish CRLs, and an admission deadline leaves no
/// time to fetch them). The reason of the last rejection per host is kept for the error message.
/// </summary>
public sealed class RegistryTrust
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private readonly ConcurrentDictionary<string, string> _lastRejection = new(StringComparer.OrdinalIgnoreCase);

    public RegistryTrust(X509Certificate2Collection? additionalRoots = null)
    {
        AdditionalRoots = additionalRoots ?? [];
    }

    /// <summary>The CAs trusted besides the system's.</summary>
    public X509Certificate2Collection AdditionalRoots { get; }

    /// <summary>Reads a PEM bundle of CA certificates; it must hold at least one.</summary>
    public static RegistryTrust FromBundleFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var roots = new X509Certificate2Collection();
        try
        {
            // Bundles made with `cat a.pem b.pem` from files without a final newline glue an END line to the next
            // BEGIN line, which the PEM reader then skips: put the line break back.
            var pem = File.ReadAllText(path).Replace("-----END CERTIFICATE----------BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----", StringComparison.Ordinal);
            roots.ImportFromPem(pem);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"registry CA bundle {path} cannot be read: {e.Message}", e);
        }

        if (roots.Count == 0)
        {
            throw new InvalidOperationException($"registry CA bundle {path} holds no PEM certificate");
        }

        return new RegistryTrust(roots);
    }

    /// <summary>The callback for <see cref="SslClientAuthenticationOptions.RemoteCertificateValidationCallback"/>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var host = (sender as SslStream)?.TargetHostName ?? string.Empty;
        var rejection = Check(certificate, chain, errors);
        if (rejection is null)
        {
            _lastRejection.TryRemove(host, out _);
            return true;
        }

        _lastRejection[host] = rejection;
        return false;
    }

    /// <summary>Null when the certificate is acceptable; otherwise why not, in words for an admission message.</summary>
    public string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return null;
        }

        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the registry presented no certificate";
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return "the certificate does not name the registry host";
        }

        // Only chain errors are left: the system roots do not lead to the certificate. Try the configured CAs.
        if (AdditionalRoots.Count == 0)
        {
            return "the certificate chain is not trusted (" + Describe(chain) + "); configure Registry:CaBundleFile for a private CA";
        }

        using var owned = certificate is X509Certificate2 ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var target = owned ?? (X509Certificate2)certificate;
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(AdditionalRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.DisableCertificateDownloads = true;
        custom.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(ServerAuthentication));
        if (chain is not null)
        {
            // The intermediates the server sent.
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(target)
            ? null
            : "the certificate chain is trusted neither by the system roots nor by Registry:CaBundleFile (" + Describe(custom) + ")";
    }

    /// <summary>Why the last handshake with <paramref name="host"/> was rejected, if it was.</summary>
    public string? LastRejection(string host) => _lastRejection.TryGetValue(host, out var reason) ? reason : null;

    private static string Describe(X509Chain? chain)
    {
        if (chain is null)
        {
            return "no chain";
        }

        var statuses = chain.ChainStatus.Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct().Select(s => s.ToString()).ToList();
        return statuses.Count == 0 ? "unknown chain error" : string.Join(", ", statuses);
    }
}

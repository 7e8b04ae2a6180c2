namespace PolicyCompiler.Host;

/// <summary>The <c>Tls</c> configuration section.</summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) file; with <see cref="KeyFile"/>. Reloaded when it changes on disk.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key file for <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>When no files are given, the generated development certificate is also written here (PEM), so clients can trust it.</summary>
    public string? DevelopmentCertificateOutput { get; set; }

    /// <summary>Extra DNS names for the development certificate (e.g. the Service name <c>policy-compiler.policy-compiler.svc</c>).</summary>
    public IList<string> DevelopmentCertificateNames { get; } = [];

    /// <summary>How often the certificate files are checked for rotation.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

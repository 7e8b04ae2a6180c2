using System.Globalization;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Writes the YAML configuration of a distribution (docker-registry 2.8) server: filesystem storage, one
/// loopback listener, and the optional parts that test variants switch on (htpasswd auth, TLS, extra
/// response headers). Each part is a small method; a new variant adds one more.
/// </summary>
public sealed class RegistryConfigBuilder
{
    private readonly Dictionary<string, string> _headers = new(StringComparer.Ordinal);

    public RegistryConfigBuilder(string storageDirectory, int port)
    {
        StorageDirectory = storageDirectory;
        Port = port;
    }

    public string StorageDirectory { get; }

    public int Port { get; }

    /// <summary>Null: anonymous access. Otherwise the htpasswd file (bcrypt entries only) and its realm.</summary>
    public (string File, string Realm)? Htpasswd { get; private set; }

    /// <summary>Null: plain HTTP. Otherwise a PEM certificate and key the registry serves.</summary>
    public (string CertificateFile, string KeyFile)? Tls { get; private set; }

    public bool DeleteEnabled { get; set; } = true;

    public string LogLevel { get; set; } = "info";

    public RegistryConfigBuilder WithHtpasswd(string file, string realm = "policycompiler-e2e")
    {
        Htpasswd = (file, realm);
        return this;
    }

    /// <summary>Null: no token auth. Otherwise distribution's <c>auth: token:</c> settings.</summary>
    public (string Realm, string Service, string Issuer, string RootCertBundle)? TokenAuth { get; private set; }

    /// <summary>
    /// Token authentication (distribution's docs/spec/auth/token.md): clients are sent to <paramref name="realm"/> for a
    /// JWT issued by <paramref name="issuer"/> for <paramref name="service"/>, whose signing certificate chains to a CA
    /// in the PEM file <paramref name="rootCertBundle"/>.
    /// </summary>
    public RegistryConfigBuilder WithTokenAuth(string realm, string service, string issuer, string rootCertBundle)
    {
        TokenAuth = (realm, service, issuer, rootCertBundle);
        return this;
    }

    public RegistryConfigBuilder WithTls(string certificateFile, string keyFile)
    {
        Tls = (certificateFile, keyFile);
        return this;
    }

    public RegistryConfigBuilder WithHeader(string name, string value)
    {
        _headers[name] = value;
        return this;
    }

    public string Build()
    {
        var yaml = new StringBuilder();
        Line(yaml, 0, "version: 0.1");
        Line(yaml, 0, "log:");
        Line(yaml, 1, "level: " + LogLevel);
        Line(yaml, 1, "formatter: text");
        Line(yaml, 1, "accesslog:");
        Line(yaml, 2, "disabled: false");
        Line(yaml, 0, "storage:");
        Line(yaml, 1, "filesystem:");
        Line(yaml, 2, "rootdirectory: " + Quote(StorageDirectory));
        Line(yaml, 1, "delete:");
        Line(yaml, 2, "enabled: " + (DeleteEnabled ? "true" : "false"));
        Line(yaml, 1, "maintenance:");
        Line(yaml, 2, "uploadpurging:");
        Line(yaml, 3, "enabled: false");
        Line(yaml, 0, "http:");
        Line(yaml, 1, "addr: " + Quote("127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture)));
        Line(yaml, 1, "secret: " + Quote(Guid.NewGuid().ToString("N")));
        Line(yaml, 1, "headers:");
        Line(yaml, 2, "X-Content-Type-Options: [nosniff]");
        foreach (var (name, value) in _headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            Line(yaml, 2, name + ": [" + Quote(value) + "]");
        }

        if (Tls is { } tls)
        {
            Line(yaml, 1, "tls:");
            Line(yaml, 2, "certificate: " + Quote(tls.CertificateFile));
            Line(yaml, 2, "key: " + Quote(tls.KeyFile));
        }

        if (Htpasswd is { } htpasswd && TokenAuth is not null)
        {
            throw new InvalidOperationException("a registry authenticates with htpasswd or with tokens, not both");
        }

        if (Htpasswd is { } basic)
        {
            Line(yaml, 0, "auth:");
            Line(yaml, 1, "htpasswd:");
            Line(yaml, 2, "realm: " + Quote(basic.Realm));
            Line(yaml, 2, "path: " + Quote(basic.File));
        }

        if (TokenAuth is { } token)
        {
            Line(yaml, 0, "auth:");
            Line(yaml, 1, "token:");
            Line(yaml, 2, "realm: " + Quote(token.Realm));
            Line(yaml, 2, "service: " + Quote(token.Service));
            Line(yaml, 2, "issuer: " + Quote(token.Issuer));
            Line(yaml, 2, "rootcertbundle: " + Quote(token.RootCertBundle));
        }

        return yaml.ToString();
    }

    private static void Line(StringBuilder yaml, int depth, string text) => yaml.Append(' ', depth * 2).Append(text).Append('\n');

    /// <summary>A YAML double-quoted scalar.</summary>
    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>A transparency log (Rekor) or CT log: its key, the log ID derived from it, and when the key was valid.</summary>
public sealed class TransparencyLog(string baseUrl, byte[] logId, VerificationKey key, DateTimeOffset? validFrom, DateTimeOffset? validUntil)
{
    public string BaseUrl { get; } = baseUrl;

    /// <summary>SHA-256 of the log's SubjectPublicKeyInfo, as Rekor names itself in entries.</summary>
    public byte[] LogId { get; } = logId;

    public VerificationKey Key { get; } = key;

    public DateTimeOffset? ValidFrom { get; } = validFrom;

    public DateTimeOffset? ValidUntil { get; } = validUntil;

    public bool WasValidAt(DateTimeOffset time) => (ValidFrom is null || time >= ValidFrom) && (ValidUntil is null || time <= ValidUntil);

    /// <summary>A log known only by its key (a private Rekor configured with <c>rekor.pubkey</c>).</summary>
    public static TransparencyLog FromKey(string baseUrl, VerificationKey key) =>
        new(baseUrl, SHA256.HashData(key.SubjectPublicKeyInfo), key, null, null);
}

/// <summary>A certificate authority (Fulcio or a timestamp authority) with its chain, leaf-most first.</summary>
public sealed class CertificateAuthority(string uri, IReadOnlyList<X509Certificate2> chain, DateTimeOffset? validFrom, DateTimeOffset? validUntil)
{
    public string Uri { get; } = uri;

    public IReadOnlyList<X509Certificate2> Chain { get; } = chain;

    public DateTimeOffset? ValidFrom { get; } = validFrom;

    public DateTimeOffset? ValidUntil { get; } = validUntil;

    /// <summary>
    /// Whether a timestamp's signer may be a certificate the token itself carries, provided it chains to
    /// <see cref="Chain"/>. A Sigstore trusted root names each TSA's leaf; a <c>tsaCertChain</c> may stop at the CA.
    /// </summary>
    public bool SignerMayBeEmbedded { get; private init; }

    /// <summary>
    /// A timestamp authority given as a PEM chain (<c>ctlog.tsaCertChain</c>, cosign's
    /// <c>--timestamp-certificate-chain</c>): its root, any intermediates, and optionally the leaf, in any order.
    /// </summary>
    public static CertificateAuthority ForTimestampChain(IReadOnlyList<X509Certificate2> chain)
    {
        ArgumentNullException.ThrowIfNull(chain);

        // Leaf-most first, as the trusted root orders chains: certificates that are not CAs, then the rest as given.
        var ordered = chain.Where(c => !IsCertificateAuthority(c)).Concat(chain.Where(IsCertificateAuthority)).ToList();
        return new CertificateAuthority("tsaCertChain", ordered, null, null) { SignerMayBeEmbedded = true };
    }

    private static bool IsCertificateAuthority(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true };
}

/// <summary>
/// Sigstore trust material in the <c>application/vnd.dev.sigstore.trustedroot+json</c> format. The public-good
/// root is built in; private deployments load their own file.
/// </summary>
public sealed class TrustedRoot
{
    private static readonly Lazy<TrustedRoot> s_publicGood = new(LoadPublicGood);

    private TrustedRoot(IReadOnlyList<TransparencyLog> tlogs, IReadOnlyList<TransparencyLog> ctlogs, IReadOnlyList<CertificateAuthority> certificateAuthorities, IReadOnlyList<CertificateAuthority> timestampAuthorities, IReadOnlyList<string> skipped)
    {
        TransparencyLogs = tlogs;
        CertificateTransparencyLogs = ctlogs;
        CertificateAuthorities = certificateAuthorities;
        TimestampAuthorities = timestampAuthorities;
        SkippedEntries = skipped;
    }

    /// <summary>The Sigstore public-good instance (rekor.sigstore.dev, fulcio.sigstore.dev, ctfe.sigstore.dev).</summary>
    public static TrustedRoot PublicGood => s_publicGood.Value;

    /// <summary>This root with other transparency logs: an attestor's private Rekor (<c>rekor.pubkey</c>).</summary>
    public TrustedRoot WithTransparencyLogs(IReadOnlyList<TransparencyLog> logs) =>
        new(logs, CertificateTransparencyLogs, CertificateAuthorities, TimestampAuthorities, SkippedEntries);

    public IReadOnlyList<TransparencyLog> TransparencyLogs { get; }

    public IReadOnlyList<TransparencyLog> CertificateTransparencyLogs { get; }

    public IReadOnlyList<CertificateAuthority> CertificateAuthorities { get; }

    public IReadOnlyList<CertificateAuthority> TimestampAuthorities { get; }

    /// <summary>Entries whose key this runtime cannot use yet (for example Ed25519 logs), with the reason.</summary>
    public IReadOnlyList<string> SkippedEntries { get; }

    public static TrustedRoot Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 32 });
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        var skipped = new List<string>();
        return new TrustedRoot(
            ReadLogs(root, "tlogs", skipped),
            ReadLogs(root, "ctlogs", skipped),
            ReadAuthorities(root, "certificateAuthorities"),
            ReadAuthorities(root, "timestampAuthorities"),
            skipped);
    }

    private static TrustedRoot LoadPublicGood()
    {
        using var stream = typeof(TrustedRoot).Assembly.GetManifestResourceStream("PolicyCompiler.Runtime.PublicGoodTrustedRoot.json")
            ?? throw new InvalidOperationException("the built-in public-good trusted root is missing from the runtime assembly");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Parse(buffer.ToArray());
    }

    private static List<TransparencyLog> ReadLogs(JsonElement root, string property, List<string> skipped)
    {
        var logs = new List<TransparencyLog>();
        if (!root.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return logs;
        }

        foreach (var entry in array.EnumerateArray())
        {
            var baseUrl = entry.TryGetProperty("baseUrl", out var url) ? url.GetString() ?? string.Empty : string.Empty;
            var publicKey = entry.GetProperty("publicKey");
            var raw = Convert.FromBase64String(publicKey.GetProperty("rawBytes").GetString()!);
            var details = publicKey.TryGetProperty("keyDetails", out var d) ? d.GetString() : null;
            var (from, until) = ReadValidity(publicKey);
            var logId = entry.TryGetProperty("logId", out var id) && id.TryGetProperty("keyId", out var keyId)
                ? Convert.FromBase64String(keyId.GetString()!)
                : SHA256.HashData(raw);
            VerificationKey key;
            try
            {
                key = VerificationKey.FromSubjectPublicKeyInfo(raw, HashAlgorithmName.SHA256);
            }
            catch (CryptographicException)
            {
                skipped.Add($"{property} {baseUrl}: key type {details} is not supported");
                continue;
            }

            logs.Add(new TransparencyLog(baseUrl, logId, key, from, until));
        }

        return logs;
    }

    private static List<CertificateAuthority> ReadAuthorities(JsonElement root, string property)
    {
        var authorities = new List<CertificateAuthority>();
        if (!root.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return authorities;
        }

        foreach (var entry in array.EnumerateArray())
        {
            var chain = new List<X509Certificate2>();
            foreach (var certificate in entry.GetProperty("certChain").GetProperty("certificates").EnumerateArray())
            {
                chain.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(certificate.GetProperty("rawBytes").GetString()!)));
            }

            var (from, until) = ReadValidity(entry);
            authorities.Add(new CertificateAuthority(entry.TryGetProperty("uri", out var uri) ? uri.GetString() ?? string.Empty : string.Empty, chain, from, until));
        }

        return authorities;
    }

    private static (DateTimeOffset? From, DateTimeOffset? Until) ReadValidity(JsonElement element)
    {
        if (!element.TryGetProperty("validFor", out var validFor) || validFor.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        // Protobuf JSON writes an absent field as null or leaves it out.
        DateTimeOffset? from = validFor.TryGetProperty("start", out var start) && start.ValueKind != JsonValueKind.Null ? start.GetDateTimeOffset() : null;
        DateTimeOffset? until = validFor.TryGetProperty("end", out var end) && end.ValueKind != JsonValueKind.Null ? end.GetDateTimeOffset() : null;
        return (from, until);
    }
}

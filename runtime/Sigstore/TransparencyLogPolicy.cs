namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// What an attestor demands of the transparency log: nothing (<c>rekor.ignoreTlog: true</c>), or a Rekor bundle
/// whose SignedEntryTimestamp verifies with one of <see cref="Logs"/>. Verification is offline: the bundle cosign
/// attached to the signature is the proof; the log is never queried at admission time.
/// </summary>
public sealed class TransparencyLogPolicy
{
    private readonly Func<IReadOnlyList<TransparencyLog>> _logs;

    private TransparencyLogPolicy(bool ignore, Func<IReadOnlyList<TransparencyLog>> logs)
    {
        IgnoreTlog = ignore;
        _logs = logs;
    }

    /// <summary>No transparency log proof is required.</summary>
    public static TransparencyLogPolicy Ignore { get; } = new(true, static () => []);

    /// <summary>A bundle from a log of the configured trusted root (the public-good Rekor unless replaced).</summary>
    public static TransparencyLogPolicy TrustedRootLogs { get; } = new(false, static () => SigstoreTrust.Root.TransparencyLogs);

    public bool IgnoreTlog { get; }

    public IReadOnlyList<TransparencyLog> Logs => _logs();

    /// <summary>A private Rekor known by its public key (<c>rekor.pubkey</c>).</summary>
    public static TransparencyLogPolicy WithKey(string url, VerificationKey key)
    {
        var logs = new[] { TransparencyLog.FromKey(url, key) };
        return new TransparencyLogPolicy(false, () => logs);
    }

    /// <summary>The public-good Rekor, the one log an attestor may name by URL alone.</summary>
    public const string PublicRekorUrl = "https://rekor.sigstore.dev";

    /// <summary>
    /// A <c>rekor.url</c> substituted at admission, without a <c>rekor.pubkey</c>: the trusted root's logs for the
    /// public-good Rekor, as a literal URL compiles. Any other log cannot be trusted without its key, so that URL throws
    /// (and the attestor fails) rather than quietly accepting bundles from the trusted root's logs instead.
    /// </summary>
    public static TransparencyLogPolicy ForUrl(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var trimmed = CheckUrl(url);
        return string.Equals(trimmed, PublicRekorUrl, StringComparison.OrdinalIgnoreCase)
            ? TrustedRootLogs
            : throw new ArgumentException($"rekor.url {trimmed} is not {PublicRekorUrl}, and a private Rekor needs rekor.pubkey");
    }

    /// <summary>A substituted <c>rekor.url</c> must be an absolute http(s) URL, as a literal one must at build time.</summary>
    public static string CheckUrl(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var trimmed = url.Trim().TrimEnd('/');
        return Uri.TryCreate(trimmed, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? trimmed
            : throw new ArgumentException($"rekor.url \"{url}\" is not an absolute http(s) URL");
    }
}

/// <summary>
/// The process-wide Sigstore trust material. The built-in public-good root unless the host replaces it at start-up
/// (air-gapped clusters, private Sigstore deployments).
/// </summary>
public static class SigstoreTrust
{
    private static TrustedRoot? s_root;

    public static TrustedRoot Root
    {
        get => s_root ?? TrustedRoot.PublicGood;
        set => s_root = value ?? throw new ArgumentNullException(nameof(value));
    }
}

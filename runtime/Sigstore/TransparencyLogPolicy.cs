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

namespace PolicyCompiler.Runtime.Registry;

/// <summary>How the registry client reaches registries. Bound from the host's <c>Registry</c> configuration section.</summary>
public sealed class RegistryOptions
{
    /// <summary>
    /// Registries reached over plain HTTP instead of HTTPS: <c>host:port</c> for one port, a bare host for all its ports.
    /// Nothing is insecure unless listed here.
    /// </summary>
    public IList<string> InsecureRegistries { get; } = [];

    /// <summary>
    /// Docker config JSON files holding registry credentials: the <c>.dockerconfigjson</c> key of a
    /// <c>kubernetes.io/dockerconfigjson</c> Secret mounted as a volume (the <c>.dockercfg</c> form is read too).
    /// Re-read when they change.
    /// </summary>
    public IList<string> CredentialFiles { get; } = [];

    /// <summary>How often the credential files are checked for changes (kubelet swaps mounted Secrets in place).</summary>
    public TimeSpan CredentialRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A PEM file of CA certificates trusted for registries (and their token realms) in addition to the system roots,
    /// for registries with a private CA.
    /// </summary>
    public string? CaBundleFile { get; set; }

    /// <summary>Largest manifest accepted (the distribution spec suggests registries accept at least 4 MiB).</summary>
    public long MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest signature or attestation layer read; simple-signing payloads are a few hundred bytes.</summary>
    public long MaxSignatureLayerBytes { get; set; } = 1024 * 1024;

    /// <summary>Most signature layers considered in one <c>.sig</c> manifest (cosign's CVE-2023-46737 class: unbounded layers).</summary>
    public int MaxSignatureLayers { get; set; } = 100;

    /// <summary>Time allowed to open a connection to a registry.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts per registry read (the first one included) when the registry answers 429 or 5xx or drops the connection.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The first backoff; each further retry waits twice as long (with jitter), up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The longest wait before a retry. A registry whose <c>Retry-After</c> asks for more is not retried: its answer is
    /// the result. Every wait also ends at the admission deadline.
    /// </summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public bool IsInsecure(string registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var host = registry;
        var colon = registry.LastIndexOf(':');
        if (colon > 0 && registry.IndexOf(']', StringComparison.Ordinal) < colon)
        {
            host = registry[..colon];
        }

        foreach (var entry in InsecureRegistries)
        {
            var trimmed = entry.Trim();
            if (string.Equals(trimmed, registry, StringComparison.OrdinalIgnoreCase) || string.Equals(trimmed, host, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Checks the values at start, so that a wrong setting stops the process instead of every admission.</summary>
    public void Validate()
    {
        if (MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "Registry:MaxAttempts must be at least 1");
        }

        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryBaseDelay), "Registry:RetryBaseDelay and Registry:MaxRetryDelay must not be negative");
        }

        if (CredentialRefreshInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(CredentialRefreshInterval), CredentialRefreshInterval, "Registry:CredentialRefreshInterval must be positive");
        }

        if (MaxManifestBytes <= 0 || MaxSignatureLayerBytes <= 0 || MaxSignatureLayers <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxManifestBytes), "Registry size limits must be positive");
        }

        foreach (var file in CredentialFiles)
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                throw new ArgumentException("Registry:CredentialFiles holds an empty entry", nameof(CredentialFiles));
            }
        }
    }
}

namespace PolicyCompiler.Runtime.Registry;

/// <summary>How the registry client reaches registries. Bound from the host's <c>Registry</c> configuration section.</summary>
public sealed class RegistryOptions
{
    /// <summary>
    /// Registries reached over plain HTTP instead of HTTPS: <c>host:port</c> for one port, a bare host for all its ports.
    /// Nothing is insecure unless listed here.
    /// </summary>
    public IList<string> InsecureRegistries { get; } = [];

    /// <summary>Largest manifest accepted (the distribution spec suggests registries accept at least 4 MiB).</summary>
    public long MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest signature or attestation layer read; simple-signing payloads are a few hundred bytes.</summary>
    public long MaxSignatureLayerBytes { get; set; } = 1024 * 1024;

    /// <summary>Most signature layers considered in one <c>.sig</c> manifest (cosign's CVE-2023-46737 class: unbounded layers).</summary>
    public int MaxSignatureLayers { get; set; } = 100;

    /// <summary>Time allowed to open a connection to a registry.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

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
}

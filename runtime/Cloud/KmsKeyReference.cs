using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Cloud;

// This file is compiled twice: into the runtime, which fetches the key, and into the generator (netstandard2.0), which
// refuses a reference the runtime could not use. One grammar, so the two cannot disagree. Keep it to APIs that both
// target frameworks have.

/// <summary>The KMS providers cosign names by URI scheme.</summary>
internal enum KmsProvider
{
    Aws,
    Gcp,
    HashiVault,
    Azure,
}

/// <summary>
/// A cosign KMS key reference, parsed with the grammar of sigstore's providers:
/// <c>awskms://[endpoint]/{key id | alias/name | key or alias ARN}</c>,
/// <c>gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/N]</c> (or <c>/versions/N</c>),
/// <c>hashivault://name</c>, <c>azurekms://vault-host/key[/version]</c>.
/// </summary>
internal sealed class KmsKeyReference
{
    private const string Uuid = "m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}";
    private const string Arn = "arn:(?:aws|aws-us-gov):kms:(?<region>[a-z0-9-]+):[0-9]{12}:";

    private static readonly Regex[] s_aws =
    [
        new("^awskms://(?<endpoint>[^/]*)/(?<key>" + Uuid + ")$", RegexOptions.CultureInvariant),
        new("^awskms://(?<endpoint>[^/]*)/(?<key>" + Arn + "key/" + Uuid + ")$", RegexOptions.CultureInvariant),
        new("^awskms://(?<endpoint>[^/]*)/(?<key>alias/.+)$", RegexOptions.CultureInvariant),
        new("^awskms://(?<endpoint>[^/]*)/(?<key>" + Arn + "alias/.+)$", RegexOptions.CultureInvariant),
    ];

    private static readonly Regex s_gcp = new(
        "^gcpkms://(?<key>projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)(?:/(?:cryptoKeyVersions|versions)/(?<version>[^/]+))?$",
        RegexOptions.CultureInvariant);

    // Go's \w is ASCII only.
    private static readonly Regex s_vault = new("^hashivault://(?<key>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$", RegexOptions.CultureInvariant);

    private static readonly Regex s_azure = new("^azurekms://(?<vault>[^/]+)/(?<key>[^/]+)(?:/(?<version>[a-z0-9]*))?$", RegexOptions.CultureInvariant);

    private KmsKeyReference(string text, KmsProvider provider, string key)
    {
        Text = text;
        Provider = provider;
        Key = key;
    }

    public string Text { get; }

    public KmsProvider Provider { get; }

    /// <summary>AWS: the key id, alias or ARN; GCP: the crypto key's resource name; Vault: the transit key; Azure: the key name.</summary>
    public string Key { get; }

    /// <summary>AWS: the endpoint host written in the URI (empty for the region's); Azure: the vault host.</summary>
    public string? Host { get; private set; }

    /// <summary>AWS: the region an ARN names.</summary>
    public string? Region { get; private set; }

    /// <summary>GCP, Azure: the pinned key version, null for the newest.</summary>
    public string? Version { get; private set; }

    /// <summary>
    /// True when the reference always names the same key material, so a fetched public key can be kept for good: an AWS
    /// asymmetric key never changes its material (an alias can be moved), a pinned GCP or Azure version never changes.
    /// </summary>
    public bool IsImmutable => Provider switch
    {
        KmsProvider.Aws => !Key.StartsWith("alias/", System.StringComparison.Ordinal) && Key.IndexOf(":alias/", System.StringComparison.Ordinal) < 0,
        KmsProvider.Gcp or KmsProvider.Azure => !string.IsNullOrEmpty(Version),
        _ => false,
    };

    public static bool IsKmsScheme(string text) =>
        text.StartsWith("awskms://", System.StringComparison.Ordinal)
        || text.StartsWith("gcpkms://", System.StringComparison.Ordinal)
        || text.StartsWith("hashivault://", System.StringComparison.Ordinal)
        || text.StartsWith("azurekms://", System.StringComparison.Ordinal);

    /// <summary>The parsed reference, or null with <paramref name="error"/> saying what to write instead.</summary>
    public static KmsKeyReference? Parse(string text, out string? error)
    {
        error = null;
        if (text.StartsWith("awskms://", System.StringComparison.Ordinal))
        {
            foreach (var regex in s_aws)
            {
                if (regex.Match(text) is { Success: true } match)
                {
                    return new KmsKeyReference(text, KmsProvider.Aws, match.Groups["key"].Value)
                    {
                        Host = match.Groups["endpoint"].Value,
                        Region = match.Groups["region"].Success ? match.Groups["region"].Value : null,
                    };
                }
            }

            error = "write awskms:///<key id>, awskms:///alias/<name> or awskms:///arn:aws:kms:<region>:<account>:key/<key id> (an endpoint may stand between // and /)";
            return null;
        }

        if (text.StartsWith("gcpkms://", System.StringComparison.Ordinal))
        {
            if (s_gcp.Match(text) is { Success: true } match)
            {
                return new KmsKeyReference(text, KmsProvider.Gcp, match.Groups["key"].Value)
                {
                    Version = match.Groups["version"].Success ? match.Groups["version"].Value : null,
                };
            }

            error = "write gcpkms://projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>[/cryptoKeyVersions/<version>]";
            return null;
        }

        if (text.StartsWith("hashivault://", System.StringComparison.Ordinal))
        {
            if (s_vault.Match(text) is { Success: true } match)
            {
                return new KmsKeyReference(text, KmsProvider.HashiVault, match.Groups["key"].Value);
            }

            error = "write hashivault://<transit key name> (letters, digits, '_', '-' and '.')";
            return null;
        }

        if (text.StartsWith("azurekms://", System.StringComparison.Ordinal))
        {
            if (s_azure.Match(text) is { Success: true } match)
            {
                return new KmsKeyReference(text, KmsProvider.Azure, match.Groups["key"].Value)
                {
                    Host = match.Groups["vault"].Value,
                    Version = match.Groups["version"].Success && match.Groups["version"].Length > 0 ? match.Groups["version"].Value : null,
                };
            }

            error = "write azurekms://<vault>.vault.azure.net/<key>[/<version>]";
            return null;
        }

        error = "the KMS schemes are awskms://, gcpkms://, hashivault:// and azurekms://";
        return null;
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>One <c>auths</c> entry: which registries (and repository prefix) it is for, and the credential.</summary>
public sealed class DockerConfigEntry(string key, string host, string pathPrefix, RegistryCredential credential)
{
    /// <summary>The key as written in the file (<c>https://index.docker.io/v1/</c>, <c>registry.example:5000</c>, <c>*.example.com/team</c>).</summary>
    public string Key { get; } = key;

    /// <summary>Lower-case <c>host[:port]</c>, Docker Hub's aliases folded into <c>docker.io</c>; a label may be a <c>*</c> glob.</summary>
    public string Host { get; } = host;

    /// <summary>A repository prefix (<c>team</c> matches <c>team/app</c>), or empty for the whole registry.</summary>
    public string PathPrefix { get; } = pathPrefix;

    public RegistryCredential Credential { get; } = credential;

    internal bool HasWildcard => Host.Contains('*', StringComparison.Ordinal);
}

/// <summary>
/// Reads Docker config JSON as Kubernetes stores it in <c>kubernetes.io/dockerconfigjson</c> Secrets
/// (<c>{"auths": {"registry": {"auth": "base64(user:password)"}}}</c>, or <c>username</c>/<c>password</c>,
/// <c>identitytoken</c>, <c>registrytoken</c>) and the older <c>.dockercfg</c> form (the <c>auths</c> map alone),
/// and matches registries against its keys as the kubelet does: host and port exact (Docker Hub's aliases are one
/// host), <c>*</c> globs per host label, an optional repository prefix; the most specific key wins.
/// Nothing here ever puts a secret into an exception message.
/// </summary>
public static class DockerConfig
{
    /// <summary>Docker Hub's names for one registry; an image reference's <c>docker.io</c> matches any of them.</summary>
    private static readonly string[] s_dockerHubAliases = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

    /// <summary>Parses a Docker config. Entries that cannot be used are reported through <paramref name="problems"/> and skipped.</summary>
    /// <exception cref="FormatException">The content is not a JSON object of the expected shape (the message holds no content).</exception>
    public static IReadOnlyList<DockerConfigEntry> Parse(ReadOnlySpan<byte> json, ICollection<string>? problems = null)
    {
        // Files written by Windows tools (and .NET's Encoding.UTF8) start with a byte order mark the reader rejects.
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 16 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            // JsonException's message quotes the offending character, which may belong to a password.
            throw new FormatException($"not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1})");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("a Docker config must be a JSON object");
            }

            JsonElement auths;
            if (root.TryGetProperty("auths", out var wrapped))
            {
                if (wrapped.ValueKind != JsonValueKind.Object)
                {
                    throw new FormatException("'auths' must be a JSON object");
                }

                auths = wrapped;
            }
            else
            {
                // .dockercfg: the map of registries is the whole document.
                auths = root;
            }

            var entries = new List<DockerConfigEntry>();
            foreach (var property in auths.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    problems?.Add($"entry '{Describe(property.Name)}' is not a JSON object");
                    continue;
                }

                if (!TryNormalizeKey(property.Name, out var host, out var path))
                {
                    problems?.Add($"entry '{Describe(property.Name)}' does not name a registry");
                    continue;
                }

                var credential = ReadCredential(property.Value, property.Name, problems);
                if (credential is null || credential.IsEmpty)
                {
                    continue;
                }

                entries.Add(new DockerConfigEntry(property.Name, host, path, credential));
            }

            return entries;
        }
    }

    /// <summary>The most specific entry for <paramref name="registry"/> and <paramref name="repository"/>, or null.</summary>
    public static DockerConfigEntry? Match(IEnumerable<DockerConfigEntry> entries, string registry, string repository)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(repository);
        var target = NormalizeHost(registry);
        DockerConfigEntry? best = null;
        foreach (var entry in entries)
        {
            if (!HostMatches(entry.Host, target) || !PathMatches(entry.PathPrefix, repository))
            {
                continue;
            }

            if (best is null || IsMoreSpecific(entry, best))
            {
                best = entry;
            }
        }

        return best;
    }

    /// <summary>Reduces a key to <c>host[:port]</c> and a repository prefix: no scheme, no API version path, lower-case host.</summary>
    public static bool TryNormalizeKey(string key, out string host, out string pathPrefix)
    {
        ArgumentNullException.ThrowIfNull(key);
        host = string.Empty;
        pathPrefix = string.Empty;
        var text = key.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            text = text[(scheme + 3)..];
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var path = slash < 0 ? string.Empty : text[(slash + 1)..].Trim('/');
        text = slash < 0 ? text : text[..slash];
        if (text.Length == 0 || text.Any(c => char.IsWhiteSpace(c) || c is '@' or '?' or '#'))
        {
            return false;
        }

        host = NormalizeHost(text);

        // https://index.docker.io/v1/ and https://quay.io/v2/ name API versions, not repositories.
        if (path is "v1" or "v2" || host == Images.ImageReference.DockerHubRegistry)
        {
            path = string.Empty;
        }

        pathPrefix = path;
        return true;
    }

    private static string NormalizeHost(string host)
    {
        var lower = host.ToLowerInvariant();
        return Array.IndexOf(s_dockerHubAliases, lower) >= 0 ? Images.ImageReference.DockerHubRegistry : lower;
    }

    private static RegistryCredential? ReadCredential(JsonElement entry, string key, ICollection<string>? problems)
    {
        var userName = String(entry, "username");
        var password = String(entry, "password");
        if ((userName is null || password is null) && String(entry, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth.Trim()));
            }
            catch (FormatException)
            {
                problems?.Add($"entry '{Describe(key)}': 'auth' is not base64");
                return null;
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                problems?.Add($"entry '{Describe(key)}': 'auth' does not decode to user:password");
                return null;
            }

            userName = decoded[..colon];
            password = decoded[(colon + 1)..];
        }

        return new RegistryCredential(userName, password, String(entry, "identitytoken"), String(entry, "registrytoken"));

        static string? String(JsonElement element, string name)
        {
            foreach (var property in element.EnumerateObject())
            {
                // Docker writes these lower-case; some tools capitalise them (IdentityToken).
                if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                {
                    return property.Value.GetString();
                }
            }

            return null;
        }
    }

    private static bool HostMatches(string pattern, string host)
    {
        SplitPort(pattern, out var patternName, out var patternPort);
        SplitPort(host, out var hostName, out var hostPort);
        if (!string.Equals(patternPort, hostPort, StringComparison.Ordinal))
        {
            return false;
        }

        if (!patternName.Contains('*', StringComparison.Ordinal))
        {
            return string.Equals(patternName, hostName, StringComparison.Ordinal);
        }

        var patternLabels = patternName.Split('.');
        var hostLabels = hostName.Split('.');
        if (patternLabels.Length != hostLabels.Length)
        {
            return false;
        }

        for (var i = 0; i < patternLabels.Length; i++)
        {
            if (!Wildcard.Match(patternLabels[i], hostLabels[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static void SplitPort(string host, out string name, out string port)
    {
        var colon = host.LastIndexOf(':');
        if (colon > 0 && host.IndexOf(']', StringComparison.Ordinal) < colon)
        {
            name = host[..colon];
            port = host[(colon + 1)..];
        }
        else
        {
            name = host;
            port = string.Empty;
        }
    }

    private static bool PathMatches(string prefix, string repository) =>
        prefix.Length == 0
        || string.Equals(repository, prefix, StringComparison.Ordinal)
        || (repository.StartsWith(prefix, StringComparison.Ordinal) && repository.Length > prefix.Length && repository[prefix.Length] == '/');

    private static bool IsMoreSpecific(DockerConfigEntry candidate, DockerConfigEntry current)
    {
        if (candidate.HasWildcard != current.HasWildcard)
        {
            return !candidate.HasWildcard;
        }

        return candidate.PathPrefix.Length > current.PathPrefix.Length;
    }

    /// <summary>A key for a message: keys are registry names, but cut long ones short.</summary>
    private static string Describe(string key) =>
        key.Length <= 100 ? key : key[..100].ToString(CultureInfo.InvariantCulture) + "…";
}

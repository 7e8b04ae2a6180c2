using System.Diagnostics.CodeAnalysis;

namespace PolicyCompiler.Runtime.Images;

/// <summary>
/// A container image reference, normalised the way Docker and containerd normalise names:
/// <c>nginx</c> is <c>docker.io/library/nginx:latest</c>, <c>index.docker.io</c> is <c>docker.io</c>.
/// </summary>
/// <remarks>
/// The grammar is the one of the distribution project's reference package (domain, path components,
/// tag, digest). Parsing is strict: whatever the kubelet would refuse is refused here, so a Pod can never
/// name an image that we matched or verified under a different reading than the runtime pulls.
/// </remarks>
public sealed class ImageReference : IEquatable<ImageReference>
{
    public const string DockerHubRegistry = "docker.io";
    private const string DockerHubEndpoint = "registry-1.docker.io";
    private const string IndexDockerIo = "index.docker.io";
    private const int MaxNameLength = 255;
    private const int MaxTagLength = 128;

    private ImageReference(string original, string registry, string repository, string? tag, string? digest)
    {
        Original = original;
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The text exactly as it appeared in the resource.</summary>
    public string Original { get; }

    /// <summary>The registry host, with its port when one was given (<c>docker.io</c>, <c>127.0.0.1:5000</c>).</summary>
    public string Registry { get; }

    /// <summary>The repository path inside the registry (<c>library/nginx</c>).</summary>
    public string Repository { get; }

    /// <summary>The tag as written; <see langword="null"/> when the reference had none.</summary>
    public string? Tag { get; }

    /// <summary>The digest as written (<c>sha256:…</c>); <see langword="null"/> when the reference had none.</summary>
    public string? Digest { get; }

    /// <summary><c>registry/repository</c>.</summary>
    public string Name => _name ??= Registry + "/" + Repository;

    // Read by every cache key, pattern and annotation of the image; the reference is immutable, so it is built once.
    private string? _name;

    /// <summary>The tag that a pull would use: the written one, or <c>latest</c> when neither tag nor digest is given.</summary>
    public string? EffectiveTag => Tag ?? (Digest is null ? "latest" : null);

    /// <summary>The last path component (<c>nginx</c>).</summary>
    public string ShortName => Repository[(Repository.LastIndexOf('/') + 1)..];

    /// <summary>Host (and port) that serves the registry API; Docker Hub's API lives on another host than its name.</summary>
    public string RegistryEndpoint => Registry == DockerHubRegistry ? DockerHubEndpoint : Registry;

    /// <summary>The fully qualified form: <c>registry/repository[:tag][@digest]</c>, with the implied <c>latest</c> made explicit.</summary>
    public string FullyQualified
    {
        get
        {
            // Asked for by every rule that looks at the image; the reference is immutable, so it is built once.
            if (_fullyQualified is null)
            {
                var tag = EffectiveTag;
                _fullyQualified = string.Concat(Name, tag is null ? string.Empty : ":", tag, Digest is null ? string.Empty : "@", Digest);
            }

            return _fullyQualified;
        }
    }

    private string? _fullyQualified;

    private string[]? _patternCandidates;

    /// <summary>
    /// The image as Kyverno prints it in messages and in the <c>kyverno.io/verify-images</c> annotation:
    /// <c>name@digest</c> when there is a digest, otherwise <c>name:tag</c>.
    /// </summary>
    public string Canonical => Digest is null ? Name + ":" + EffectiveTag : Name + "@" + Digest;

    /// <summary>
    /// Kyverno's spelling of the image (its <c>ImageInfo.String()</c>): official Docker Hub images without
    /// <c>library/</c>, and <c>name@digest</c> instead of the tag when a digest is given.
    /// </summary>
    public string KyvernoForm
    {
        get
        {
            var name = Registry == DockerHubRegistry && Repository.StartsWith("library/", StringComparison.Ordinal) && Repository.IndexOf('/', "library/".Length) < 0
                ? Registry + "/" + Repository["library/".Length..]
                : Name;
            return Digest is null ? name + ":" + EffectiveTag : name + "@" + Digest;
        }
    }

    /// <summary>
    /// The strings an <c>imageReferences</c> pattern is matched against. Kyverno prints Docker Hub's
    /// official images without <c>library/</c> (<c>docker.io/nginx:latest</c>); patterns written either way match.
    /// </summary>
    public IEnumerable<string> PatternCandidates => _patternCandidates ??= BuildPatternCandidates();

    // Each rule's imageReferences are matched against these; built once per reference, not once per rule. Outside
    // Docker Hub, one or two strings, made without an iterator or list in between.
    private string[] BuildPatternCandidates() => Registry == DockerHubRegistry
        ? [.. BuildDockerHubPatternCandidates()]
        : Digest is not null && Tag is not null ? [FullyQualified, string.Concat(Name, "@", Digest)] : [FullyQualified];

    private IEnumerable<string> BuildDockerHubPatternCandidates()
    {
        yield return FullyQualified;
        if (Digest is not null && Tag is not null)
        {
            yield return Name + "@" + Digest;
        }

        // Only official images (library/<one component>) have the short form; library/a/b is another repository.
        if (Registry == DockerHubRegistry && Repository.StartsWith("library/", StringComparison.Ordinal) && Repository.IndexOf('/', "library/".Length) < 0)
        {
            var familiar = Registry + "/" + Repository["library/".Length..];
            var tag = EffectiveTag;
            yield return familiar + (tag is null ? string.Empty : ":" + tag) + (Digest is null ? string.Empty : "@" + Digest);
        }

        // Kyverno reads the registry as the Pod writes it: index.docker.io/org/app stays index.docker.io, and a pattern
        // written that way (kyverno/policies has some) must still cover the image, or it would be admitted unverified.
        if (Registry == DockerHubRegistry && Original.StartsWith(IndexDockerIo + "/", StringComparison.Ordinal))
        {
            var suffix = FullyQualified[Name.Length..];
            yield return IndexDockerIo + "/" + Repository + suffix;
            var written = Original[(IndexDockerIo.Length + 1)..];
            if (Repository.StartsWith("library/", StringComparison.Ordinal) && !written.StartsWith("library/", StringComparison.Ordinal))
            {
                yield return IndexDockerIo + "/" + Repository["library/".Length..] + suffix;
            }
        }
    }

    public ImageReference WithDigest(string digest)
    {
        if (!IsValidDigest(digest))
        {
            throw new ArgumentException($"'{digest}' is not a valid digest.", nameof(digest));
        }

        return new ImageReference(Original, Registry, Repository, Tag, digest);
    }

    public static ImageReference Parse(string text)
    {
        if (!TryParse(text, out var reference, out var error))
        {
            throw new FormatException(error);
        }

        return reference;
    }

    public static bool TryParse(string? text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "image reference is empty";
            return false;
        }

        if (text.Length > 4096)
        {
            error = "image reference is longer than 4096 characters";
            return false;
        }

        var rest = text.AsSpan();
        string? digest = null;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            var digestText = rest[(at + 1)..].ToString();
            if (!IsValidDigest(digestText))
            {
                error = $"invalid digest '{digestText}' in image reference '{text}'";
                return false;
            }

            digest = digestText;
            rest = rest[..at];
        }

        string? tag = null;
        var lastColon = rest.LastIndexOf(':');
        var lastSlash = rest.LastIndexOf('/');
        if (lastColon > lastSlash)
        {
            var tagText = rest[(lastColon + 1)..];
            if (!IsValidTag(tagText))
            {
                error = $"invalid tag '{tagText}' in image reference '{text}'";
                return false;
            }

            tag = tagText.ToString();
            rest = rest[..lastColon];
        }

        string registry;
        ReadOnlySpan<char> path;
        var firstSlash = rest.IndexOf('/');
        if (firstSlash < 0 || !LooksLikeRegistry(rest[..firstSlash]))
        {
            registry = DockerHubRegistry;
            path = rest;
        }
        else
        {
            var domain = rest[..firstSlash];
            if (!IsValidDomain(domain))
            {
                error = $"invalid registry '{domain}' in image reference '{text}'";
                return false;
            }

            registry = domain.Equals(IndexDockerIo, StringComparison.Ordinal) ? DockerHubRegistry : domain.ToString();
            path = rest[(firstSlash + 1)..];
        }

        if (!IsValidPath(path))
        {
            error = $"invalid repository '{path}' in image reference '{text}': repository names are lowercase path components separated by '/'";
            return false;
        }

        // A bare 64-hex name would read as an image ID; Docker refuses it as a repository name.
        if (text.Length == 64 && !text.AsSpan().ContainsAnyExcept("0123456789abcdef"))
        {
            error = $"invalid repository '{path}' in image reference '{text}': a 64-character hexadecimal string is an image ID, not a name";
            return false;
        }

        var repository = path.ToString();
        if (registry == DockerHubRegistry && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        if (registry.Length + 1 + repository.Length > MaxNameLength)
        {
            error = $"repository name in '{text}' is longer than {MaxNameLength} characters";
            return false;
        }

        reference = new ImageReference(text, registry, repository, tag, digest);
        error = null;
        return true;
    }

    /// <summary>
    /// Docker's rule for the first path component: it names a registry when it has a dot or a port,
    /// is <c>localhost</c>, or has an uppercase letter (repository paths cannot).
    /// </summary>
    private static bool LooksLikeRegistry(ReadOnlySpan<char> first) =>
        first.IndexOfAny('.', ':') >= 0
        || first.Equals("localhost", StringComparison.Ordinal)
        || first.IndexOfAnyInRange('A', 'Z') >= 0;

    public static bool IsValidDigest(ReadOnlySpan<char> digest)
    {
        var colon = digest.IndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        var algorithm = digest[..colon];
        var hex = digest[(colon + 1)..];
        var expected = algorithm switch
        {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => -1,
        };
        return expected == hex.Length && !hex.ContainsAnyExcept("0123456789abcdef");
    }

    private static bool IsValidTag(ReadOnlySpan<char> tag)
    {
        if (tag.IsEmpty || tag.Length > MaxTagLength || !IsWordChar(tag[0]))
        {
            return false;
        }

        foreach (var c in tag[1..])
        {
            if (!IsWordChar(c) && c != '.' && c != '-')
            {
                return false;
            }
        }

        return true;

        static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
    }

    private static bool IsValidDomain(ReadOnlySpan<char> domain)
    {
        ReadOnlySpan<char> host = domain;
        if (domain.StartsWith('['))
        {
            var close = domain.IndexOf(']');
            // The reference grammar allows hex digits and colons only: no zone IDs, no embedded IPv4.
            if (close < 0
                || domain[1..close].ContainsAnyExcept("0123456789abcdefABCDEF:")
                || !System.Net.IPAddress.TryParse(domain[1..close], out var ip)
                || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            var afterBracket = domain[(close + 1)..];
            return afterBracket.IsEmpty || (afterBracket[0] == ':' && IsPort(afterBracket[1..]));
        }

        var colon = domain.IndexOf(':');
        if (colon >= 0)
        {
            if (!IsPort(domain[(colon + 1)..]))
            {
                return false;
            }

            host = domain[..colon];
        }

        if (host.IsEmpty)
        {
            return false;
        }

        foreach (var label in host.ToString().Split('.'))
        {
            if (label.Length == 0 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return false;
                }
            }
        }

        return true;

        static bool IsPort(ReadOnlySpan<char> port) =>
            !port.IsEmpty && port.Length <= 5 && !port.ContainsAnyExceptInRange('0', '9') && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) <= 65535;
    }

    /// <summary>Path components of lowercase alphanumerics joined by <c>.</c>, <c>_</c>, <c>__</c> or runs of <c>-</c>.</summary>
    private static bool IsValidPath(ReadOnlySpan<char> path)
    {
        if (path.IsEmpty)
        {
            return false;
        }

        foreach (var range in path.Split('/'))
        {
            var component = path[range];
            if (component.IsEmpty || !IsLowerAlnum(component[0]) || !IsLowerAlnum(component[^1]))
            {
                return false;
            }

            for (var i = 1; i < component.Length - 1; i++)
            {
                var c = component[i];
                if (IsLowerAlnum(c) || c == '-')
                {
                    continue;
                }

                if (c == '.' && IsLowerAlnum(component[i + 1]) && IsLowerAlnum(component[i - 1]))
                {
                    continue;
                }

                if (c == '_' && IsLowerAlnum(component[i - 1]))
                {
                    // '_' or '__' between alphanumerics
                    if (IsLowerAlnum(component[i + 1]))
                    {
                        continue;
                    }

                    if (component[i + 1] == '_' && i + 2 < component.Length && IsLowerAlnum(component[i + 2]))
                    {
                        i++;
                        continue;
                    }
                }

                return false;
            }
        }

        return true;

        static bool IsLowerAlnum(char c) => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c);
    }

    public bool Equals(ImageReference? other) =>
        other is not null && Registry == other.Registry && Repository == other.Repository && Tag == other.Tag && Digest == other.Digest;

    public override bool Equals(object? obj) => Equals(obj as ImageReference);

    public override int GetHashCode() => HashCode.Combine(Registry, Repository, Tag, Digest);

    public override string ToString() => FullyQualified;
}

using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// An image reference split as Kyverno's <c>imageutils.GetImageInfo</c> splits it (the shape of the <c>images</c>
/// variables and of <c>image_normalize</c>): the default registry is added to names without one, the tag defaults to
/// <c>latest</c> when there is no digest, and Docker Hub names keep their path as written (no <c>library/</c>).
/// </summary>
public sealed partial record KyvernoImage(string Registry, string Path, string Name, string Tag, string Digest)
{
    /// <summary>The normalised reference: <c>registry/path:tag</c>, or <c>registry/path@digest</c> when pinned.</summary>
    public override string ToString()
    {
        var image = Registry.Length > 0 ? Registry + "/" + Path : Path;
        return Digest.Length > 0 ? image + "@" + Digest : image + ":" + Tag;
    }

    /// <summary>
    /// The <c>images.containers.&lt;name&gt;</c> object Kyverno exposes. As in Kyverno's JSON, <c>registry</c>, <c>tag</c>
    /// and <c>digest</c> are absent when empty, so <c>{{ images.containers.app.digest }}</c> of an unpinned image is an
    /// unresolvable variable, not an empty string.
    /// </summary>
    public JmesValue ToValue()
    {
        var value = new JmesObject(6);
        if (Registry.Length > 0)
        {
            value.Set("registry", JmesValue.From(Registry));
        }

        value.Set("name", JmesValue.From(Name)).Set("path", JmesValue.From(Path));
        if (Tag.Length > 0)
        {
            value.Set("tag", JmesValue.From(Tag));
        }

        if (Digest.Length > 0)
        {
            value.Set("digest", JmesValue.From(Digest));
        }

        return JmesValue.FromObject(value.Set("reference", JmesValue.From(ToString())));
    }

    /// <summary>
    /// The <c>images</c> variable of a Pod: <c>{containers: {name: image}, initContainers: …, ephemeralContainers: …}</c>,
    /// from <paramref name="podSpec"/> (a Pod's <c>spec</c>). Images that do not parse are left out, as Kyverno logs and skips them.
    /// </summary>
    public static JmesValue ImagesOf(JmesValue podSpec, string defaultRegistry = "docker.io", bool enableDefaultRegistryMutation = true)
    {
        var images = new JmesObject(3);
        foreach (var kind in new[] { "containers", "initContainers", "ephemeralContainers" })
        {
            var list = podSpec.Field(kind);
            if (list.Type != JmesType.Array)
            {
                continue;
            }

            var byName = new JmesObject();
            foreach (var container in list.EnumerateArray())
            {
                var name = container.Field("name");
                var image = container.Field("image");
                if (name.Type == JmesType.String && image.Type == JmesType.String
                    && TryParse(image.GetString(), defaultRegistry, enableDefaultRegistryMutation, out var info, out _))
                {
                    byName.Set(name.GetString(), info!.ToValue());
                }
            }

            if (byName.Count > 0)
            {
                images.Set(kind, JmesValue.FromObject(byName));
            }
        }

        return JmesValue.FromObject(images);
    }

    public static bool TryParse(string image, string defaultRegistry, bool enableDefaultRegistryMutation, out KyvernoImage? info, out string? error)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(defaultRegistry);
        info = null;
        var full = AddDefaultRegistry(image, defaultRegistry);
        var match = Reference().Match(full);
        if (!match.Success)
        {
            error = $"bad image: {full}, defaultRegistry: {defaultRegistry}, enableDefaultRegistryMutation: {(enableDefaultRegistryMutation ? "true" : "false")}: invalid reference format";
            return false;
        }

        var registry = match.Groups["domain"].Value;
        var path = match.Groups["path"].Value;
        if (registry.Length + 1 + path.Length > 255)
        {
            error = "repository name must not be more than 255 characters";
            return false;
        }

        var tag = match.Groups["tag"].Value;
        var digest = match.Groups["digest"].Value;
        if (digest.Length == 0 && tag.Length == 0)
        {
            tag = "latest";
        }

        if (!string.Equals(full, image, StringComparison.Ordinal) && !enableDefaultRegistryMutation)
        {
            registry = string.Empty;
        }

        var name = path[(path.LastIndexOf('/') + 1)..];
        info = new KyvernoImage(registry, path, name, tag, digest);
        error = null;
        return true;
    }

    private static string AddDefaultRegistry(string name, string defaultRegistry)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash == -1)
        {
            return defaultRegistry + "/" + name;
        }

        var first = name[..slash];
        var looksLikeRegistry = first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal)
            || first == "localhost" || !string.Equals(first.ToLowerInvariant(), first, StringComparison.Ordinal);
        return looksLikeRegistry ? name : defaultRegistry + "/" + name;
    }

    // distribution/reference's grammar: domain/path-component(/path-component)*[:tag][@digest].
    [GeneratedRegex(
        @"^(?<domain>(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?)/"
        + @"(?<path>[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)"
        + @"(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
        + @"(?:@(?<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Reference();
}

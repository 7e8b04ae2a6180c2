using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Images;

/// <summary>An image named by the resource under review, with the JSON pointer of the field that names it.</summary>
/// <remarks>
/// <see cref="Transformed"/>: the text is what an extractor's <c>jmesPath</c> made of the field, so the field itself
/// must not be patched. <see cref="Error"/>: the image could not be read (the jmesPath failed); the image is then
/// refused, never skipped.
/// </remarks>
public sealed record ExtractedImage(string Pointer, string ContainerType, string ContainerName, string Text, bool Transformed = false, string? Error = null);

/// <summary>
/// A rule's <c>imageExtractors</c> entry for one kind: where the images are (<c>/spec/steps/*</c>), the field that holds
/// the image (<c>value</c>, default <c>image</c>) and the field that names it (<c>key</c>, default <c>name</c>).
/// </summary>
public sealed class ImageExtractorDefinition(
    string kind,
    string name,
    ImmutableArray<string> path,
    string value,
    string? key,
    Func<Conditions.JmesValue, Conditions.JmesContext, Conditions.JmesValue>? jmesPath = null)
{
    /// <summary>The compiled <c>jmesPath</c> applied to each image value (e.g. <c>trim_prefix(@, 'docker://')</c>).</summary>
    public Func<Conditions.JmesValue, Conditions.JmesContext, Conditions.JmesValue>? JmesPath { get; } = jmesPath;

    /// <summary>The kind the extractor applies to (the key under <c>imageExtractors</c>).</summary>
    public string Kind { get; } = kind;

    /// <summary>The category Kyverno files the images under (<c>name</c>, default <c>custom</c>).</summary>
    public string Name { get; } = name;

    /// <summary>The path segments; <c>*</c> stands for every element of an array or every member of an object.</summary>
    public ImmutableArray<string> Path { get; } = path;

    public string Value { get; } = value;

    public string? Key { get; } = key;
}

/// <summary>
/// Finds the images of Pods and of the Pod templates inside the built-in controllers, in the order Kyverno lists
/// them: containers, then initContainers, then ephemeralContainers.
/// </summary>
public static class ImageExtractor
{
    private static readonly string[] s_containerFields = ["containers", "initContainers", "ephemeralContainers"];

    /// <summary>The JSON pointer of the Pod spec inside a resource of <paramref name="kind"/>, or <see langword="null"/> for kinds without one.</summary>
    public static string[]? PodSpecPath(string kind) => PodSpec(kind)?.Path.ToArray();

    // The Pod spec's place per kind and the pointers of its first containers' images, built once: a review of a Pod
    // reads them instead of joining the same strings again (issue 8).
    private sealed class PodSpecLocation(string[] path)
    {
        private const int PrecomputedContainers = 16;
        private readonly string _prefix = "/" + string.Join('/', path);
        private readonly string[][] _pointers = [.. s_containerFields.Select(field => Enumerable.Range(0, PrecomputedContainers).Select(i => $"/{string.Join('/', path)}/{field}/{i}/image").ToArray())];

        public ReadOnlySpan<string> Path => path;

        public string ImagePointer(int field, int index) =>
            index < PrecomputedContainers ? _pointers[field][index] : $"{_prefix}/{s_containerFields[field]}/{index}/image";
    }

    private static readonly PodSpecLocation s_podSpec = new(["spec"]);
    private static readonly PodSpecLocation s_templateSpec = new(["spec", "template", "spec"]);
    private static readonly PodSpecLocation s_cronJobSpec = new(["spec", "jobTemplate", "spec", "template", "spec"]);

    private static PodSpecLocation? PodSpec(string kind) => kind switch
    {
        "Pod" => s_podSpec,
        "Deployment" or "DaemonSet" or "StatefulSet" or "ReplicaSet" or "ReplicationController" or "Job" => s_templateSpec,
        "CronJob" => s_cronJobSpec,
        _ => null,
    };

    /// <summary>
    /// The images a rule sees: those its <paramref name="extractors"/> find when it declares some for the request's kind,
    /// otherwise the Pod images of Pods and Pod controllers.
    /// </summary>
    public static IReadOnlyList<ExtractedImage> Extract(AdmissionContext context, ImmutableArray<ImageExtractorDefinition> extractors)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (extractors.IsDefaultOrEmpty || !extractors.Any(e => e.Kind == context.Kind))
        {
            return Extract(context);
        }

        var images = new List<ExtractedImage>();
        foreach (var extractor in extractors)
        {
            if (extractor.Kind == context.Kind && context.Resource.ValueKind == JsonValueKind.Object)
            {
                Walk(context.Resource, extractor, 0, string.Empty, images);
            }
        }

        return images;
    }

    /// <summary>Kyverno requires the jmesPath to give a string; anything else, or an evaluation error, refuses the image.</summary>
    private static ExtractedImage Transform(Func<Conditions.JmesValue, Conditions.JmesContext, Conditions.JmesValue> jmesPath, ExtractedImage raw)
    {
        try
        {
            var result = jmesPath(Conditions.JmesValue.From(raw.Text), Conditions.JmesContext.Default);
            return result.Type == Conditions.JmesType.String
                ? raw with { Text = result.GetString(), Transformed = true }
                : raw with { Error = $"the extractor's jmesPath gave {Conditions.JmesValue.TypeNameOf(result.Type)}, not a string, for {raw.Text}" };
        }
        catch (Conditions.JmesPathException e)
        {
            return raw with { Error = $"the extractor's jmesPath failed on {raw.Text}: {e.Message}" };
        }
    }

    private static void Walk(JsonElement node, ImageExtractorDefinition extractor, int depth, string pointer, List<ExtractedImage> images)
    {
        if (depth == extractor.Path.Length)
        {
            if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty(extractor.Value, out var image) && image.ValueKind == JsonValueKind.String)
            {
                var name = extractor.Key is not null && node.TryGetProperty(extractor.Key, out var key) && key.ValueKind == JsonValueKind.String ? key.GetString()! : string.Empty;
                var imagePointer = $"{pointer}/{Engine.AdmissionEngine.EscapePointer(extractor.Value)}";
                images.Add(extractor.JmesPath is null
                    ? new ExtractedImage(imagePointer, extractor.Name, name, image.GetString()!)
                    : Transform(extractor.JmesPath, new ExtractedImage(imagePointer, extractor.Name, name, image.GetString()!)));
            }

            return;
        }

        var segment = extractor.Path[depth];
        if (segment == "*")
        {
            if (node.ValueKind == JsonValueKind.Array)
            {
                var index = 0;
                foreach (var item in node.EnumerateArray())
                {
                    Walk(item, extractor, depth + 1, $"{pointer}/{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}", images);
                    index++;
                }
            }
            else if (node.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in node.EnumerateObject())
                {
                    Walk(property.Value, extractor, depth + 1, $"{pointer}/{Engine.AdmissionEngine.EscapePointer(property.Name)}", images);
                }
            }

            return;
        }

        if (node.ValueKind == JsonValueKind.Object && node.TryGetProperty(segment, out var child))
        {
            Walk(child, extractor, depth + 1, $"{pointer}/{Engine.AdmissionEngine.EscapePointer(segment)}", images);
        }
        else if (node.ValueKind == JsonValueKind.Array && int.TryParse(segment, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var position) && position < node.GetArrayLength())
        {
            Walk(node[position], extractor, depth + 1, $"{pointer}/{segment}", images);
        }
    }

    public static IReadOnlyList<ExtractedImage> Extract(AdmissionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var location = PodSpec(context.Kind);
        if (location is null || context.Resource.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var spec = context.Resource;
        foreach (var segment in location.Path)
        {
            if (spec.ValueKind != JsonValueKind.Object || !spec.TryGetProperty(segment, out spec))
            {
                return [];
            }
        }

        if (spec.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var images = new List<ExtractedImage>();
        for (var f = 0; f < s_containerFields.Length; f++)
        {
            var field = s_containerFields[f];
            if (!spec.TryGetProperty(field, out var containers) || containers.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            var index = 0;
            foreach (var container in containers.EnumerateArray())
            {
                if (container.ValueKind == JsonValueKind.Object
                    && container.TryGetProperty("image", out var image)
                    && image.ValueKind == JsonValueKind.String)
                {
                    var name = container.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : string.Empty;
                    images.Add(new ExtractedImage(location.ImagePointer(f, index), field, name, image.GetString()!));
                }

                index++;
            }
        }

        return images;
    }
}

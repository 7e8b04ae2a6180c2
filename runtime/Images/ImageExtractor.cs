using System.Text.Json;
using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Images;

/// <summary>An image named by the resource under review, with the JSON pointer of the field that names it.</summary>
public sealed record ExtractedImage(string Pointer, string ContainerType, string ContainerName, string Text);

/// <summary>
/// Finds the images of Pods and of the Pod templates inside the built-in controllers, in the order Kyverno lists
/// them: containers, then initContainers, then ephemeralContainers.
/// </summary>
public static class ImageExtractor
{
    private static readonly string[] s_containerFields = ["containers", "initContainers", "ephemeralContainers"];

    /// <summary>The JSON pointer of the Pod spec inside a resource of <paramref name="kind"/>, or <see langword="null"/> for kinds without one.</summary>
    public static string[]? PodSpecPath(string kind) => kind switch
    {
        "Pod" => ["spec"],
        "Deployment" or "DaemonSet" or "StatefulSet" or "ReplicaSet" or "ReplicationController" or "Job" => ["spec", "template", "spec"],
        "CronJob" => ["spec", "jobTemplate", "spec", "template", "spec"],
        _ => null,
    };

    public static IReadOnlyList<ExtractedImage> Extract(AdmissionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = PodSpecPath(context.Kind);
        if (path is null || context.Resource.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var spec = context.Resource;
        foreach (var segment in path)
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

        var prefix = "/" + string.Join('/', path);
        var images = new List<ExtractedImage>();
        foreach (var field in s_containerFields)
        {
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
                    images.Add(new ExtractedImage($"{prefix}/{field}/{index}/image", field, name, image.GetString()!));
                }

                index++;
            }
        }

        return images;
    }
}

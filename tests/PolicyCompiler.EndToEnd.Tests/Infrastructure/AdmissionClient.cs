using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>A Pod as a test describes it: one container per image, named c0, c1, ….</summary>
public sealed record TestPod(string Namespace, string Name, IReadOnlyList<string> Images)
{
    public TestPod(string @namespace, string name, string image)
        : this(@namespace, name, [image])
    {
    }

    /// <summary>The same containers as the Pod template of a Deployment (apps/v1).</summary>
    public JsonObject ToDeploymentJson() => new()
    {
        ["apiVersion"] = "apps/v1",
        ["kind"] = "Deployment",
        ["metadata"] = new JsonObject { ["name"] = Name, ["namespace"] = Namespace },
        ["spec"] = new JsonObject
        {
            ["replicas"] = 1,
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = Name } },
            ["template"] = Template(),
        },
    };

    /// <summary>The same containers as the Pod template of a CronJob (batch/v1).</summary>
    public JsonObject ToCronJobJson() => new()
    {
        ["apiVersion"] = "batch/v1",
        ["kind"] = "CronJob",
        ["metadata"] = new JsonObject { ["name"] = Name, ["namespace"] = Namespace },
        ["spec"] = new JsonObject
        {
            ["schedule"] = "*/5 * * * *",
            ["jobTemplate"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = Template() } },
        },
    };

    private JsonObject Template()
    {
        var pod = ToJson();
        return new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = Name } }, ["spec"] = pod["spec"]!.DeepClone() };
    }

    public JsonObject ToJson()
    {
        var containers = new JsonArray();
        for (var i = 0; i < Images.Count; i++)
        {
            containers.Add(new JsonObject
            {
                ["name"] = "c" + i.ToString(CultureInfo.InvariantCulture),
                ["image"] = Images[i],
                ["resources"] = new JsonObject(),
            });
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = Name,
                ["namespace"] = Namespace,
                ["labels"] = new JsonObject { ["app"] = Name },
            },
            ["spec"] = new JsonObject
            {
                ["containers"] = containers,
                ["restartPolicy"] = "Always",
            },
        };
    }
}

/// <summary>One operation of a JSON patch the webhook returned.</summary>
public sealed record PatchOperation(string Op, string Path, JsonNode? Value)
{
    public string? StringValue => Value is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}

/// <summary>What the webhook answered to one AdmissionReview, raw and parsed.</summary>
public sealed record AdmissionResult(string Path, string RequestBody, HttpStatusCode HttpStatus, string ResponseBody)
{
    private readonly Lazy<JsonNode?> _json = new(() => TryParse(ResponseBody));

    public JsonNode? ResponseJson => _json.Value;

    public JsonNode? Response => ResponseJson?["response"];

    public string? ApiVersion => ResponseJson?["apiVersion"]?.GetValue<string>();

    public string? Kind => ResponseJson?["kind"]?.GetValue<string>();

    public string? Uid => Response?["uid"]?.GetValue<string>();

    public bool? Allowed => Response?["allowed"]?.GetValue<bool>();

    public string? Message => Response?["status"]?["message"]?.GetValue<string>();

    /// <summary>
    /// <see cref="Message"/> with the YAML encoder's folds undone (a fold writes a space as a line break plus the four spaces
    /// of a rule message's continuation), so that a reason can be looked for as one substring.
    /// </summary>
    public string? MessageText => Message?.Replace("\n    ", " ", StringComparison.Ordinal);

    public int? StatusCode => Response?["status"]?["code"]?.GetValue<int>();

    public string? PatchType => Response?["patchType"]?.GetValue<string>();

    /// <summary>The base64 patch as sent, or null.</summary>
    public string? PatchBase64 => Response?["patch"]?.GetValue<string>();

    /// <summary>The patch decoded from base64 and parsed as a JSON array; null when there is none.</summary>
    public JsonArray? Patch => PatchBase64 is { } base64 ? JsonNode.Parse(Convert.FromBase64String(base64))?.AsArray() : null;

    public IReadOnlyList<PatchOperation> PatchOperations =>
        Patch is { } patch
            ? [.. patch.Select(o => new PatchOperation(o!["op"]!.GetValue<string>(), o["path"]!.GetValue<string>(), o["value"]?.DeepClone()))]
            : [];

    public IReadOnlyList<string> Warnings => Response?["warnings"] is JsonArray warnings ? [.. warnings.Select(w => w!.GetValue<string>())] : [];

    /// <summary>Request, response and decoded patch, for assertion messages.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append("POST ").Append(Path).Append('\n').Append(RequestBody).Append('\n');
        text.Append("→ HTTP ").Append((int)HttpStatus).Append('\n').Append(ResponseBody).Append('\n');
        try
        {
            if (Patch is { } patch)
            {
                text.Append("decoded patch: ").Append(patch.ToJsonString()).Append('\n');
            }
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            text.Append("patch does not decode: ").Append(e.Message).Append('\n');
        }

        return text.ToString();
    }

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The group, version, kind and resource an AdmissionReview names.</summary>
public sealed record ResourceType(string Group, string Version, string Kind, string Resource);

/// <summary>Sends admission.k8s.io/v1 AdmissionReviews to the webhook, as the API server does.</summary>
public sealed class AdmissionClient(HttpClient http)
{
    public Task<AdmissionResult> MutateAsync(TestPod pod, CancellationToken cancellationToken = default) =>
        ReviewAsync("/mutate", Review((pod ?? throw new ArgumentNullException(nameof(pod))).ToJson()), cancellationToken);

    public Task<AdmissionResult> ValidateAsync(TestPod pod, CancellationToken cancellationToken = default) =>
        ReviewAsync("/validate", Review((pod ?? throw new ArgumentNullException(nameof(pod))).ToJson()), cancellationToken);

    /// <summary>Sends <paramref name="pod"/> (any Pod JSON, e.g. one a mutation patched) for validation.</summary>
    public Task<AdmissionResult> ValidateAsync(JsonObject pod, CancellationToken cancellationToken = default) =>
        ReviewAsync("/validate", Review(pod), cancellationToken);

    public async Task<AdmissionResult> ReviewAsync(string path, JsonObject review, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(review);
        var body = review.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
        var (status, responseBody) = await PostRawAsync(path, body, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new AdmissionResult(path, body, status, responseBody);
    }

    public async Task<(HttpStatusCode Status, string Body)> PostRawAsync(string path, string body, string contentType = "application/json", CancellationToken cancellationToken = default)
    {
        using var content = new StringContent(body, Encoding.UTF8, contentType);
        using var response = await http.PostAsync(new Uri(path.TrimStart('/'), UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    public static readonly ResourceType Pods = new(string.Empty, "v1", "Pod", "pods");
    public static readonly ResourceType Deployments = new("apps", "v1", "Deployment", "deployments");
    public static readonly ResourceType CronJobs = new("batch", "v1", "CronJob", "cronjobs");

    public Task<AdmissionResult> MutateAsync(JsonObject resource, ResourceType type, CancellationToken cancellationToken = default) =>
        ReviewAsync("/mutate", Review(resource, type), cancellationToken);

    /// <summary>An AdmissionReview of a CREATE of <paramref name="pod"/>, with a fresh uid.</summary>
    public static JsonObject Review(JsonObject pod, string? uid = null, string operation = "CREATE") => Review(pod, Pods, uid, operation);

    /// <summary>An AdmissionReview of a CREATE of <paramref name="resource"/> of <paramref name="type"/>, with a fresh uid.</summary>
    public static JsonObject Review(JsonObject resource, ResourceType type, string? uid = null, string operation = "CREATE")
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(type);
        var pod = resource;
        var metadata = pod["metadata"];
        return new JsonObject
        {
            ["apiVersion"] = "admission.k8s.io/v1",
            ["kind"] = "AdmissionReview",
            ["request"] = new JsonObject
            {
                ["uid"] = uid ?? Guid.NewGuid().ToString(),
                ["kind"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["kind"] = type.Kind },
                ["resource"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["resource"] = type.Resource },
                ["requestKind"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["kind"] = type.Kind },
                ["requestResource"] = new JsonObject { ["group"] = type.Group, ["version"] = type.Version, ["resource"] = type.Resource },
                ["name"] = metadata?["name"]?.DeepClone(),
                ["namespace"] = metadata?["namespace"]?.DeepClone(),
                ["operation"] = operation,
                ["userInfo"] = new JsonObject
                {
                    ["username"] = "kubernetes-admin",
                    ["groups"] = new JsonArray("system:masters", "system:authenticated"),
                },
                ["object"] = pod.DeepClone(),
                ["oldObject"] = null,
                ["dryRun"] = false,
                ["options"] = new JsonObject { ["apiVersion"] = "meta.k8s.io/v1", ["kind"] = "CreateOptions" },
            },
        };
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace PolicyCompiler.Runtime.Admission;

// The admission.k8s.io/v1 wire types, reduced to the fields an image-verification webhook reads or writes.
// Unknown fields are ignored on input, as the API server's own clients do.

public sealed class AdmissionReview
{
    [JsonPropertyName("apiVersion")]
    public string? ApiVersion { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("request")]
    public AdmissionRequest? Request { get; set; }

    [JsonPropertyName("response")]
    public AdmissionResponse? Response { get; set; }
}

public sealed class AdmissionRequest
{
    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    [JsonPropertyName("kind")]
    public GroupVersionKind? Kind { get; set; }

    [JsonPropertyName("resource")]
    public GroupVersionResource? Resource { get; set; }

    [JsonPropertyName("subResource")]
    public string? SubResource { get; set; }

    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    [JsonPropertyName("operation")]
    public string? Operation { get; set; }

    [JsonPropertyName("userInfo")]
    public UserInfo? UserInfo { get; set; }

    [JsonPropertyName("object")]
    public JsonElement? Object { get; set; }

    [JsonPropertyName("oldObject")]
    public JsonElement? OldObject { get; set; }

    [JsonPropertyName("dryRun")]
    public bool? DryRun { get; set; }
}

public sealed class GroupVersionKind
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }
}

public sealed class GroupVersionResource
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("resource")]
    public string? Resource { get; set; }
}

public sealed class UserInfo
{
    [JsonPropertyName("username")]
    public string? Username { get; set; }

    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    [JsonPropertyName("groups")]
    public IReadOnlyList<string>? Groups { get; set; }
}

public sealed class AdmissionResponse
{
    [JsonPropertyName("uid")]
    public string Uid { get; set; } = string.Empty;

    [JsonPropertyName("allowed")]
    public bool Allowed { get; set; }

    [JsonPropertyName("status")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AdmissionStatus? Status { get; set; }

    /// <summary>Base64 of an RFC 6902 JSON patch.</summary>
    [JsonPropertyName("patch")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Patch { get; set; }

    [JsonPropertyName("patchType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PatchType { get; set; }

    [JsonPropertyName("warnings")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Warnings { get; set; }
}

public sealed class AdmissionStatus
{
    [JsonPropertyName("code")]
    public int Code { get; set; }

    [JsonPropertyName("message")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Message { get; set; }

    [JsonPropertyName("reason")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; set; }
}

/// <summary>One RFC 6902 operation; only the operations this webhook writes.</summary>
public sealed class JsonPatchOperation
{
    [JsonPropertyName("op")]
    public required string Op { get; init; }

    [JsonPropertyName("path")]
    public required string Path { get; init; }

    [JsonPropertyName("value")]
    public JsonElement? Value { get; init; }
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    MaxDepth = 64)]
[JsonSerializable(typeof(AdmissionReview))]
[JsonSerializable(typeof(List<JsonPatchOperation>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(string))]
public sealed partial class AdmissionJsonContext : JsonSerializerContext;

using System.Text.Json.Serialization;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>Media types from the OCI image spec and Docker's v2 schema 2.</summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>The Accept header for manifest reads: every type we can digest and walk.</summary>
    public const string ManifestAccept = OciIndex + ", " + OciManifest + ", " + DockerManifestList + ", " + DockerManifest;
}

/// <summary>An OCI content descriptor.</summary>
public sealed class OciDescriptor
{
    [JsonPropertyName("mediaType")]
    public string? MediaType { get; set; }

    [JsonPropertyName("digest")]
    public string? Digest { get; set; }

    [JsonPropertyName("size")]
    public long Size { get; set; }

    [JsonPropertyName("annotations")]
    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>The artifact type of a referrer (OCI 1.1), as listed in a referrers index.</summary>
    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; set; }
}

/// <summary>An OCI image index: here the answer of the referrers API or of the referrers tag schema.</summary>
public sealed class OciIndex
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; set; }

    [JsonPropertyName("mediaType")]
    public string? MediaType { get; set; }

    [JsonPropertyName("manifests")]
    public List<OciDescriptor>? Manifests { get; set; }
}

/// <summary>An OCI image manifest (also reads Docker's schema 2, which has the same shape).</summary>
public sealed class OciManifest
{
    [JsonPropertyName("schemaVersion")]
    public int SchemaVersion { get; set; }

    [JsonPropertyName("mediaType")]
    public string? MediaType { get; set; }

    [JsonPropertyName("config")]
    public OciDescriptor? Config { get; set; }

    [JsonPropertyName("layers")]
    public List<OciDescriptor>? Layers { get; set; }

    [JsonPropertyName("annotations")]
    public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>OCI 1.1: the artifact type of an artifact manifest.</summary>
    [JsonPropertyName("artifactType")]
    public string? ArtifactType { get; set; }

    /// <summary>OCI 1.1: the manifest this artifact refers to.</summary>
    [JsonPropertyName("subject")]
    public OciDescriptor? Subject { get; set; }
}

/// <summary>Token endpoint answer of the Docker registry token protocol.</summary>
public sealed class TokenResponse
{
    [JsonPropertyName("token")]
    public string? Token { get; set; }

    [JsonPropertyName("access_token")]
    public string? AccessToken { get; set; }

    [JsonPropertyName("expires_in")]
    public int? ExpiresIn { get; set; }
}

[JsonSourceGenerationOptions(MaxDepth = 32)]
[JsonSerializable(typeof(OciManifest))]
[JsonSerializable(typeof(OciIndex))]
[JsonSerializable(typeof(TokenResponse))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;

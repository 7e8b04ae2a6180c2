using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// cosign's "simple signing" payload (<c>application/vnd.dev.cosign.simplesigning.v1+json</c>): the claim that the
/// signature is about one manifest digest. Only read after its signature has verified.
/// </summary>
public sealed class SimpleSigningPayload
{
    public const string MediaType = "application/vnd.dev.cosign.simplesigning.v1+json";
    public const string CosignSignatureType = "cosign container image signature";

    private SimpleSigningPayload(string type, string manifestDigest, string? dockerReference, JsonElement optional)
    {
        Type = type;
        ManifestDigest = manifestDigest;
        DockerReference = dockerReference;
        Optional = optional;
    }

    /// <summary><c>critical.type</c>.</summary>
    public string Type { get; }

    /// <summary><c>critical.image.docker-manifest-digest</c>.</summary>
    public string ManifestDigest { get; }

    /// <summary><c>critical.identity.docker-reference</c>: the name the signer used, informational only (images are copied between registries).</summary>
    public string? DockerReference { get; }

    /// <summary>The signer's <c>optional</c> annotations (an object, or <c>null</c>/undefined).</summary>
    public JsonElement Optional { get; }

    private static readonly JsonDocumentOptions s_options = new()
    {
        MaxDepth = 32,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    public static bool TryParse(ReadOnlyMemory<byte> json, [NotNullWhen(true)] out SimpleSigningPayload? payload, [NotNullWhen(false)] out string? error)
    {
        payload = null;
        try
        {
            using var document = JsonDocument.Parse(json, s_options);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("critical", out var critical) || critical.ValueKind != JsonValueKind.Object)
            {
                error = "payload has no 'critical' object";
                return false;
            }

            if (!critical.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                error = "payload has no 'critical.type'";
                return false;
            }

            if (!critical.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.Object
                || !image.TryGetProperty("docker-manifest-digest", out var digest) || digest.ValueKind != JsonValueKind.String)
            {
                error = "payload has no 'critical.image.docker-manifest-digest'";
                return false;
            }

            string? reference = null;
            if (critical.TryGetProperty("identity", out var identity))
            {
                if (identity.ValueKind != JsonValueKind.Object)
                {
                    error = "payload's 'critical.identity' is not an object";
                    return false;
                }

                if (identity.TryGetProperty("docker-reference", out var dockerReference))
                {
                    if (dockerReference.ValueKind != JsonValueKind.String)
                    {
                        error = "payload's 'critical.identity.docker-reference' is not a string";
                        return false;
                    }

                    reference = dockerReference.GetString();
                }
            }

            var optional = root.TryGetProperty("optional", out var opt) ? opt.Clone() : default;
            if (optional.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
            {
                error = "payload's 'optional' is neither an object nor null";
                return false;
            }

            payload = new SimpleSigningPayload(type.GetString()!, digest.GetString()!, reference, optional);
            error = null;
            return true;
        }
        // JsonDocument checks the syntax but not the text inside strings: invalid UTF-8 or a lone surrogate escape
        // (\uD800) only fails when the string is read, with InvalidOperationException. This content comes from the
        // registry, so that is a malformed document like any other, not an exception that escapes verification.
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            error = "payload is not valid JSON: " + e.Message;
            return false;
        }
    }
}

using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// The RFC 3161 timestamp cosign attaches with <c>--timestamp-server-url</c>: the layer annotation
/// <c>dev.sigstore.cosign/rfc3161timestamp</c> holds <c>{"SignedRFC3161Timestamp": base64(TimeStampResp)}</c>, a
/// timestamp over the raw signature bytes (for attestations, over the DSSE envelope). As in cosign, a timestamp that
/// is present must verify, and its time then bounds the signing certificate's validity.
/// </summary>
public static class CosignTimestamp
{
    /// <summary>
    /// Null when <paramref name="layer"/> carries no timestamp (<paramref name="time"/> null) or carries one that a
    /// trusted timestamp authority signed over <paramref name="stamped"/> (<paramref name="time"/> its generation time);
    /// otherwise why it does not verify.
    /// </summary>
    public static string? Verify(CosignSignature layer, ReadOnlySpan<byte> stamped, SignatureRequirements requirements, out DateTimeOffset? time)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(requirements);
        time = null;
        if (!layer.Annotations.TryGetValue(CosignSignature.TimestampAnnotation, out var json) || string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        if (!TryReadToken(json, out var der))
        {
            return "unable to verify RFC3161 timestamp: the annotation is not {\"SignedRFC3161Timestamp\": <base64>}";
        }

        var authorities = requirements.TimestampAuthorities ?? SigstoreTrust.Root.TimestampAuthorities;
        if (authorities.Count == 0)
        {
            // cosign's words for the same situation, so that Kyverno users recognise it.
            return "unable to verify RFC3161 timestamp bundle: no TSA root certificate(s) provided to verify timestamp";
        }

        if (!Rfc3161Timestamp.TryParse(der, out var token, out var error))
        {
            return "unable to verify RFC3161 timestamp: " + error;
        }

        if (token.Verify(stamped, authorities) is { } failure)
        {
            return "unable to verify RFC3161 timestamp: " + failure;
        }

        time = token.GenerationTime;
        return null;
    }

    private static bool TryReadToken(string json, out byte[] der)
    {
        der = [];
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("SignedRFC3161Timestamp", out var value)
                || value.ValueKind != JsonValueKind.String
                || !value.TryGetBytesFromBase64(out var bytes)
                || bytes.Length == 0)
            {
                return false;
            }

            der = bytes;
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

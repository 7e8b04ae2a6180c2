using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>The outcome of checking a Rekor bundle: the log's signed promise that the entry was logged, and when.</summary>
public readonly record struct RekorCheck(bool Verified, string Reason, DateTimeOffset IntegratedTime, long LogIndex)
{
    public static RekorCheck Fail(string reason) => new(false, reason, default, -1);
}

/// <summary>
/// cosign's offline Rekor proof (<c>dev.sigstore.cosign/bundle</c>): a SignedEntryTimestamp over the canonical JSON
/// of the log entry's body, integrated time, log index and log ID. Verified against the configured log keys; the
/// body must describe exactly this signature over this payload by this key or certificate.
/// </summary>
public sealed class RekorBundle
{
    private RekorBundle(byte[] signedEntryTimestamp, string body, long integratedTime, long logIndex, string logId)
    {
        SignedEntryTimestamp = signedEntryTimestamp;
        Body = body;
        IntegratedTime = integratedTime;
        LogIndex = logIndex;
        LogId = logId;
    }

    public byte[] SignedEntryTimestamp { get; }

    /// <summary>Base64 of the log entry (a <c>hashedrekord</c> or <c>rekord</c> for signatures).</summary>
    public string Body { get; }

    /// <summary>Seconds since the Unix epoch at which the log integrated the entry.</summary>
    public long IntegratedTime { get; }

    public long LogIndex { get; }

    /// <summary>Hex SHA-256 of the log's public key.</summary>
    public string LogId { get; }

    public static bool TryParse(string json, [NotNullWhen(true)] out RekorBundle? bundle, [NotNullWhen(false)] out string? error)
    {
        bundle = null;
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16, AllowDuplicateProperties = false });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("SignedEntryTimestamp", out var set) || set.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("Payload", out var payload) || payload.ValueKind != JsonValueKind.Object
                || !payload.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.String
                || !payload.TryGetProperty("integratedTime", out var time) || time.ValueKind != JsonValueKind.Number || !time.TryGetInt64(out var integratedTime)
                || !payload.TryGetProperty("logIndex", out var index) || index.ValueKind != JsonValueKind.Number || !index.TryGetInt64(out var logIndex)
                || !payload.TryGetProperty("logID", out var logId) || logId.ValueKind != JsonValueKind.String)
            {
                error = "the Rekor bundle lacks SignedEntryTimestamp or Payload.{body,integratedTime,logIndex,logID}";
                return false;
            }

            bundle = new RekorBundle(Convert.FromBase64String(set.GetString()!), body.GetString()!, integratedTime, logIndex, logId.GetString()!);
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            error = "the Rekor bundle is malformed: " + e.Message;
            return false;
        }
    }

    /// <summary>
    /// The exact bytes Rekor signed: RFC 8785 canonical JSON of the four payload fields, keys in code-unit order.
    /// </summary>
    public byte[] CanonicalPayload()
    {
        var builder = new StringBuilder(Body.Length + 128);
        builder.Append("{\"body\":");
        AppendJcsString(builder, Body);
        builder.Append(",\"integratedTime\":").Append(IntegratedTime.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.Append(",\"logID\":");
        AppendJcsString(builder, LogId);
        builder.Append(",\"logIndex\":").Append(LogIndex.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.Append('}');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>
    /// Verifies the bundle for a signature. <paramref name="signerDer"/> is the SubjectPublicKeyInfo of the key,
    /// or the DER of the signing certificate, that the log entry must name.
    /// </summary>
    public RekorCheck Verify(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer, IReadOnlyList<TransparencyLog> logs)
    {
        ArgumentNullException.ThrowIfNull(logs);
        TransparencyLog? log = null;
        foreach (var candidate in logs)
        {
            if (string.Equals(Convert.ToHexStringLower(candidate.LogId), LogId, StringComparison.OrdinalIgnoreCase))
            {
                log = candidate;
                break;
            }
        }

        if (log is null)
        {
            return RekorCheck.Fail($"the Rekor bundle names log {LogId}, which is not a trusted transparency log");
        }

        if (!log.Key.Verify(CanonicalPayload(), SignedEntryTimestamp))
        {
            return RekorCheck.Fail("the Rekor bundle's SignedEntryTimestamp does not verify with the log key");
        }

        var integrated = DateTimeOffset.FromUnixTimeSeconds(IntegratedTime);
        if (!log.WasValidAt(integrated))
        {
            return RekorCheck.Fail($"the Rekor log key was not valid at the entry's integrated time {integrated:O}");
        }

        var bodyError = CheckBody(payload, signature, signerDer);
        return bodyError is null
            ? new RekorCheck(true, "verified", integrated, LogIndex)
            : RekorCheck.Fail("the Rekor entry does not match the signature: " + bodyError);
    }

    /// <summary>The logged entry must name this payload's hash, this signature and this signer.</summary>
    private string? CheckBody(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        byte[] bodyBytes;
        try
        {
            bodyBytes = Convert.FromBase64String(Body);
        }
        catch (FormatException)
        {
            return "the entry body is not base64";
        }

        try
        {
            using var document = JsonDocument.Parse(bodyBytes, new JsonDocumentOptions { MaxDepth = 16, AllowDuplicateProperties = false });
            var root = document.RootElement;
            var kind = root.TryGetProperty("kind", out var k) ? k.GetString() : null;
            if (!root.TryGetProperty("spec", out var spec))
            {
                return "the entry has no spec";
            }

            return kind switch
            {
                "hashedrekord" or "rekord" => CheckSignatureEntry(spec, payload, signature, signerDer),
                "intoto" => CheckIntotoEntry(spec, payload, signature, signerDer),
                "dsse" => CheckDsseEntry(spec, payload, signature, signerDer),
                _ => $"entry kind '{kind}' is not a signature entry",
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            return "the entry body is malformed: " + e.Message;
        }
    }

    /// <summary>hashedrekord/rekord: the hash of the signed payload, the signature, and the signer.</summary>
    private static string? CheckSignatureEntry(JsonElement spec, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        var hash = spec.GetProperty("data").GetProperty("hash");
        if (hash.GetProperty("algorithm").GetString() != "sha256")
        {
            return "the entry's payload hash is not SHA-256";
        }

        if (!SameHash(hash.GetProperty("value").GetString(), payload))
        {
            return "the entry logs another payload";
        }

        var signatureElement = spec.GetProperty("signature");
        if (!Convert.FromBase64String(signatureElement.GetProperty("content").GetString()!).AsSpan().SequenceEqual(signature))
        {
            return "the entry logs another signature";
        }

        return SameSigner(signatureElement.GetProperty("publicKey").GetProperty("content").GetString(), signerDer);
    }

    /// <summary>intoto v0.0.2: the DSSE payload's hash and the envelope's one signature (base64 inside base64).</summary>
    private static string? CheckIntotoEntry(JsonElement spec, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        var content = spec.GetProperty("content");
        if (!SameHash(content.GetProperty("payloadHash").GetProperty("value").GetString(), payload))
        {
            return "the entry logs another attestation payload";
        }

        var signatures = content.GetProperty("envelope").GetProperty("signatures");
        if (signatures.GetArrayLength() != 1)
        {
            return "the entry's envelope does not hold exactly one signature";
        }

        var logged = signatures[0];
        var inner = Encoding.UTF8.GetString(Convert.FromBase64String(logged.GetProperty("sig").GetString()!));
        if (!Convert.FromBase64String(inner).AsSpan().SequenceEqual(signature))
        {
            return "the entry logs another signature";
        }

        return logged.TryGetProperty("publicKey", out var publicKey) ? SameSigner(publicKey.GetString(), signerDer) : null;
    }

    /// <summary>dsse v0.0.1: the payload's hash, the one signature and its verifier.</summary>
    private static string? CheckDsseEntry(JsonElement spec, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        if (!SameHash(spec.GetProperty("payloadHash").GetProperty("value").GetString(), payload))
        {
            return "the entry logs another attestation payload";
        }

        var signatures = spec.GetProperty("signatures");
        if (signatures.GetArrayLength() != 1)
        {
            return "the entry does not hold exactly one signature";
        }

        var logged = signatures[0];
        if (!Convert.FromBase64String(logged.GetProperty("signature").GetString()!).AsSpan().SequenceEqual(signature))
        {
            return "the entry logs another signature";
        }

        return SameSigner(logged.GetProperty("verifier").GetString(), signerDer);
    }

    private static bool SameHash(string? hex, ReadOnlySpan<byte> content) =>
        string.Equals(hex, Convert.ToHexStringLower(SHA256.HashData(content)), StringComparison.OrdinalIgnoreCase);

    /// <summary>Rekor stores the signer as base64 of its PEM (a public key or a certificate).</summary>
    private static string? SameSigner(string? base64Pem, ReadOnlySpan<byte> signerDer)
    {
        var pem = Encoding.UTF8.GetString(Convert.FromBase64String(base64Pem ?? string.Empty));
        var fields = PemEncoding.Find(pem);
        var der = Convert.FromBase64String(pem[fields.Base64Data]);
        return der.AsSpan().SequenceEqual(signerDer) ? null : "the entry logs another key or certificate";
    }

    private static void AppendJcsString(StringBuilder builder, string value)
    {
        builder.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }
}

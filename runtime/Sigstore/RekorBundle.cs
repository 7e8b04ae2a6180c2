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
        // JsonDocument checks the syntax but not the text inside strings: invalid UTF-8 or a lone surrogate escape
        // (\uD800) only fails when the string is read, with InvalidOperationException. This content comes from the
        // registry, so that is a malformed document like any other, not an exception that escapes verification.
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            error = "the Rekor bundle is malformed: " + e.Message;
            return false;
        }
    }

    /// <summary>
    /// A log entry known from its parts (a Sigstore bundle's <c>tlogEntries</c> item); <paramref name="logId"/> is the
    /// hex SHA-256 log ID. The SignedEntryTimestamp may be empty when the entry only carries an inclusion proof.
    /// </summary>
    public static RekorBundle Create(byte[] signedEntryTimestamp, string body, long integratedTime, long logIndex, string logId)
    {
        ArgumentNullException.ThrowIfNull(signedEntryTimestamp);
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(logId);
        return new RekorBundle(signedEntryTimestamp, body, integratedTime, logIndex, logId);
    }

    /// <summary>True when <paramref name="log"/>'s key signed this entry's SignedEntryTimestamp.</summary>
    public bool SignedEntryTimestampVerifies(TransparencyLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return SignedEntryTimestamp.Length > 0 && log.Key.Verify(CanonicalPayload(), SignedEntryTimestamp);
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

        var payloadHash = SHA256.HashData(payload);
        var bodyError = CheckBody(Body, new LoggedSignature(payloadHash, payloadHash, signature.ToArray(), signerDer.ToArray()));
        return bodyError is null
            ? new RekorCheck(true, "verified", integrated, LogIndex)
            : RekorCheck.Fail("the Rekor entry does not match the signature: " + bodyError);
    }

    /// <summary>
    /// What a log entry must name for one signature. <see cref="MessageSha256"/> is the digest a <c>hashedrekord</c>
    /// entry logs (the signed artifact, or for a DSSE envelope in Rekor v2 the pre-authentication encoding);
    /// <see cref="DssePayloadSha256"/> is the envelope payload's digest that <c>intoto</c> and <c>dsse</c> entries log
    /// (null for a plain message signature, which such entries cannot describe). <see cref="SignerDer"/> is the
    /// signing certificate's DER or the key's SubjectPublicKeyInfo.
    /// </summary>
    internal sealed record LoggedSignature(byte[] MessageSha256, byte[]? DssePayloadSha256, byte[] Signature, byte[] SignerDer)
    {
        /// <summary>When set, the body's <c>kind</c> and <c>apiVersion</c> must be these (a bundle's kindVersion).</summary>
        public (string Kind, string Version)? KindVersion { get; init; }
    }

    /// <summary>The logged entry (base64 <paramref name="body"/>) must name this content, this signature and this signer; null when it does.</summary>
    internal static string? CheckBody(string body, LoggedSignature expected)
    {
        byte[] bodyBytes;
        try
        {
            bodyBytes = Convert.FromBase64String(body);
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
            var version = root.TryGetProperty("apiVersion", out var v) ? v.GetString() : null;
            if (expected.KindVersion is { } kindVersion && (kind != kindVersion.Kind || version != kindVersion.Version))
            {
                return $"the entry is a {kind} {version}, not the {kindVersion.Kind} {kindVersion.Version} the bundle declares";
            }

            if (!root.TryGetProperty("spec", out var spec))
            {
                return "the entry has no spec";
            }

            return (kind, version) switch
            {
                ("hashedrekord", "0.0.2") => CheckHashedRekordV002(spec.GetProperty("hashedRekordV002"), expected),
                ("hashedrekord" or "rekord", _) => CheckSignatureEntry(spec, expected),
                ("intoto", _) when expected.DssePayloadSha256 is not null => CheckIntotoEntry(spec, expected.DssePayloadSha256, expected.Signature, expected.SignerDer),
                ("dsse", "0.0.2") when expected.DssePayloadSha256 is not null => CheckDsseV002Entry(spec.GetProperty("dsseV002"), expected),
                ("dsse", _) when expected.DssePayloadSha256 is not null => CheckDsseEntry(spec, expected.DssePayloadSha256, expected.Signature, expected.SignerDer),
                ("intoto" or "dsse", _) => $"a {kind} entry logs a DSSE envelope, not a message signature",
                _ => $"entry kind '{kind}' is not a signature entry",
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            return "the entry body is malformed: " + e.Message;
        }
    }

    /// <summary>hashedrekord/rekord 0.0.1: the hash of the signed payload, the signature, and the signer.</summary>
    private static string? CheckSignatureEntry(JsonElement spec, LoggedSignature expected)
    {
        var hash = spec.GetProperty("data").GetProperty("hash");
        if (hash.GetProperty("algorithm").GetString() != "sha256")
        {
            return "the entry's payload hash is not SHA-256";
        }

        if (!SameHash(hash.GetProperty("value").GetString(), expected.MessageSha256))
        {
            return "the entry logs another payload";
        }

        var signatureElement = spec.GetProperty("signature");
        if (!Convert.FromBase64String(signatureElement.GetProperty("content").GetString()!).AsSpan().SequenceEqual(expected.Signature))
        {
            return "the entry logs another signature";
        }

        return SameSigner(signatureElement.GetProperty("publicKey").GetProperty("content").GetString(), expected.SignerDer);
    }

    /// <summary>hashedrekord 0.0.2 (Rekor v2): base64 digest, signature and a DER verifier (certificate or public key).</summary>
    private static string? CheckHashedRekordV002(JsonElement spec, LoggedSignature expected)
    {
        var data = spec.GetProperty("data");
        if (data.GetProperty("algorithm").GetString() != "SHA2_256")
        {
            return "the entry's payload hash is not SHA-256";
        }

        if (!Convert.FromBase64String(data.GetProperty("digest").GetString()!).AsSpan().SequenceEqual(expected.MessageSha256))
        {
            return "the entry logs another payload";
        }

        return CheckV002Signature(spec.GetProperty("signature"), expected);
    }

    /// <summary>dsse 0.0.2 (Rekor v2): the payload digest and the one signature with its DER verifier.</summary>
    private static string? CheckDsseV002Entry(JsonElement spec, LoggedSignature expected)
    {
        var payloadHash = spec.GetProperty("payloadHash");
        if (payloadHash.GetProperty("algorithm").GetString() != "SHA2_256"
            || !Convert.FromBase64String(payloadHash.GetProperty("digest").GetString()!).AsSpan().SequenceEqual(expected.DssePayloadSha256))
        {
            return "the entry logs another attestation payload";
        }

        var signatures = spec.GetProperty("signatures");
        return signatures.GetArrayLength() != 1
            ? "the entry does not hold exactly one signature"
            : CheckV002Signature(signatures[0], expected);
    }

    private static string? CheckV002Signature(JsonElement signature, LoggedSignature expected)
    {
        if (!Convert.FromBase64String(signature.GetProperty("content").GetString()!).AsSpan().SequenceEqual(expected.Signature))
        {
            return "the entry logs another signature";
        }

        var verifier = signature.GetProperty("verifier");
        var logged = verifier.TryGetProperty("x509Certificate", out var certificate)
            ? certificate.GetProperty("rawBytes").GetString()
            : verifier.GetProperty("publicKey").GetProperty("rawBytes").GetString();
        return Convert.FromBase64String(logged!).AsSpan().SequenceEqual(expected.SignerDer) ? null : "the entry logs another key or certificate";
    }

    /// <summary>intoto v0.0.2: the DSSE payload's hash and the envelope's one signature (base64 inside base64).</summary>
    private static string? CheckIntotoEntry(JsonElement spec, ReadOnlySpan<byte> payloadHash, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        var content = spec.GetProperty("content");
        if (!SameHash(content.GetProperty("payloadHash").GetProperty("value").GetString(), payloadHash))
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
        if (!TryFromBase64(inner, out var loggedSignature) || !loggedSignature.AsSpan().SequenceEqual(signature))
        {
            return "the entry logs another signature";
        }

        return logged.TryGetProperty("publicKey", out var publicKey) ? SameSigner(publicKey.GetString(), signerDer) : null;
    }

    /// <summary>dsse v0.0.1: the payload's hash, the one signature and its verifier.</summary>
    private static string? CheckDsseEntry(JsonElement spec, ReadOnlySpan<byte> payloadHash, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signerDer)
    {
        if (!SameHash(spec.GetProperty("payloadHash").GetProperty("value").GetString(), payloadHash))
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

    private static bool TryFromBase64(string text, out byte[] bytes)
    {
        bytes = new byte[(text.Length * 3 / 4) + 3];
        if (Convert.TryFromBase64String(text, bytes, out var written))
        {
            bytes = bytes[..written];
            return true;
        }

        return false;
    }

    private static bool SameHash(string? hex, ReadOnlySpan<byte> sha256) =>
        string.Equals(hex, Convert.ToHexStringLower(sha256), StringComparison.OrdinalIgnoreCase);

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

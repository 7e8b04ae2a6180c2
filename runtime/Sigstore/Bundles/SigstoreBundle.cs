using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>A bundle's <c>messageSignature</c>: a signature over the artifact, and the artifact's digest as an unauthenticated hint.</summary>
public sealed record BundleMessageSignature(HashAlgorithmName DigestAlgorithm, byte[] Digest, byte[] Signature);

/// <summary>An inclusion proof of a log entry: a Merkle audit path to a root, and the log's signed checkpoint of that root.</summary>
public sealed record BundleInclusionProof(long LogIndex, byte[] RootHash, long TreeSize, IReadOnlyList<byte[]> Hashes, string? Checkpoint);

/// <summary>One <c>tlogEntries</c> item (<c>dev.sigstore.rekor.v1.TransparencyLogEntry</c>).</summary>
public sealed record BundleTlogEntry(
    long LogIndex,
    byte[] LogId,
    string Kind,
    string Version,
    long IntegratedTime,
    byte[]? SignedEntryTimestamp,
    BundleInclusionProof? InclusionProof,
    string CanonicalizedBody);

/// <summary>
/// A Sigstore bundle (<c>dev.sigstore.bundle.v1.Bundle</c> in its protobuf JSON form), parsed and structurally
/// checked but not verified: media types 0.1–0.3, the signer (certificate, chain or public key hint), the content
/// (message signature or DSSE envelope), transparency log entries and RFC 3161 timestamps.
/// </summary>
public sealed class SigstoreBundle
{
    public const string MediaType01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
    public const string MediaType02 = "application/vnd.dev.sigstore.bundle+json;version=0.2";
    public const string MediaType03 = "application/vnd.dev.sigstore.bundle+json;version=0.3";
    public const string MediaTypeV03 = "application/vnd.dev.sigstore.bundle.v0.3+json";

    /// <summary>More entries or timestamps than this is not a bundle any Sigstore client writes (sigstore-go's limit).</summary>
    internal const int MaxEntries = 32;

    private SigstoreBundle(
        string mediaType,
        int minorVersion,
        X509Certificate2? certificate,
        string? publicKeyHint,
        BundleMessageSignature? messageSignature,
        DsseEnvelope? envelope,
        IReadOnlyList<BundleTlogEntry> tlogEntries,
        IReadOnlyList<byte[]> signedTimestamps)
    {
        MediaType = mediaType;
        MinorVersion = minorVersion;
        Certificate = certificate;
        PublicKeyHint = publicKeyHint;
        MessageSignature = messageSignature;
        Envelope = envelope;
        TlogEntries = tlogEntries;
        SignedTimestamps = signedTimestamps;
    }

    public string MediaType { get; }

    /// <summary>1, 2 or 3 for bundle versions 0.1, 0.2 and 0.3.</summary>
    public int MinorVersion { get; }

    /// <summary>The signing (leaf) certificate; null when the bundle was signed with a managed key.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>The <c>publicKey.hint</c> of a bundle signed with a managed key (informational, never trusted).</summary>
    public string? PublicKeyHint { get; }

    public BundleMessageSignature? MessageSignature { get; }

    public DsseEnvelope? Envelope { get; }

    public IReadOnlyList<BundleTlogEntry> TlogEntries { get; }

    /// <summary>DER RFC 3161 time-stamp responses (or bare tokens) over the signature.</summary>
    public IReadOnlyList<byte[]> SignedTimestamps { get; }

    /// <summary>The signature that the log entries and timestamps are about: the message signature or the envelope's one signature.</summary>
    public byte[] Signature => MessageSignature?.Signature ?? Envelope!.Signatures[0];

    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out SigstoreBundle? bundle, [NotNullWhen(false)] out string? error)
    {
        bundle = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 32 });
            using var document = JsonDocument.ParseValue(ref reader);
            error = Parse(document.RootElement, out bundle);
            return error is null && bundle is not null;
        }
        catch (JsonException e)
        {
            error = "the bundle is not valid JSON: " + e.Message;
            return false;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or CryptographicException or OverflowException or KeyNotFoundException)
        {
            error = "the bundle is malformed: " + e.Message;
            return false;
        }
    }

    private static string? Parse(JsonElement root, out SigstoreBundle? bundle)
    {
        bundle = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return "the bundle is not a JSON object";
        }

        var mediaType = root.TryGetProperty("mediaType", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : string.Empty;
        var minor = mediaType switch
        {
            MediaType01 => 1,
            MediaType02 => 2,
            MediaType03 or MediaTypeV03 => 3,
            _ => 0,
        };
        if (minor == 0)
        {
            return $"unsupported bundle media type '{mediaType}'";
        }

        if (!root.TryGetProperty("verificationMaterial", out var material) || material.ValueKind != JsonValueKind.Object)
        {
            return "the bundle has no verificationMaterial";
        }

        X509Certificate2? certificate = null;
        string? hint = null;
        if (material.TryGetProperty("certificate", out var single) && single.ValueKind == JsonValueKind.Object)
        {
            certificate = X509CertificateLoader.LoadCertificate(Bytes(single, "rawBytes"));
        }
        else if (material.TryGetProperty("x509CertificateChain", out var chain) && chain.ValueKind == JsonValueKind.Object)
        {
            var certificates = chain.TryGetProperty("certificates", out var list) && list.ValueKind == JsonValueKind.Array ? list : default;
            if (certificates.ValueKind != JsonValueKind.Array || certificates.GetArrayLength() == 0)
            {
                return "the bundle's certificate chain is empty";
            }

            // Only the leaf is used: intermediates and roots come from the trusted root, never from the bundle. A
            // self-signed certificate in the chain is a bundle that tries to bring its own trust anchor.
            foreach (var element in certificates.EnumerateArray())
            {
                var parsed = X509CertificateLoader.LoadCertificate(Bytes(element, "rawBytes"));
                if (parsed.SubjectName.RawData.AsSpan().SequenceEqual(parsed.IssuerName.RawData))
                {
                    return "the bundle's certificate chain contains a self-signed (root) certificate";
                }

                certificate ??= parsed;
            }
        }
        else if (material.TryGetProperty("publicKey", out var publicKey) && publicKey.ValueKind == JsonValueKind.Object)
        {
            hint = publicKey.TryGetProperty("hint", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString() : string.Empty;
        }
        else
        {
            return "the bundle names no certificate, certificate chain or public key";
        }

        BundleMessageSignature? messageSignature = null;
        DsseEnvelope? envelope = null;
        if (root.TryGetProperty("messageSignature", out var message) && message.ValueKind == JsonValueKind.Object)
        {
            var signature = Bytes(message, "signature");
            var algorithm = HashAlgorithmName.SHA256;
            var digest = Array.Empty<byte>();
            if (message.TryGetProperty("messageDigest", out var messageDigest) && messageDigest.ValueKind == JsonValueKind.Object)
            {
                var name = messageDigest.TryGetProperty("algorithm", out var a) ? a.GetString() : null;
                algorithm = name switch
                {
                    "SHA2_256" => HashAlgorithmName.SHA256,
                    "SHA2_384" => HashAlgorithmName.SHA384,
                    "SHA2_512" => HashAlgorithmName.SHA512,
                    _ => default,
                };
                if (algorithm == default)
                {
                    return $"unsupported message digest algorithm '{name}'";
                }

                digest = Bytes(messageDigest, "digest");
            }

            messageSignature = new BundleMessageSignature(algorithm, digest, signature);
        }
        else if (root.TryGetProperty("dsseEnvelope", out var dsse) && dsse.ValueKind == JsonValueKind.Object)
        {
            if (!DsseEnvelope.TryParse(Encoding.UTF8.GetBytes(dsse.GetRawText()), out envelope, out var envelopeError))
            {
                return envelopeError;
            }

            if (envelope.Signatures.Count != 1)
            {
                return $"the DSSE envelope holds {envelope.Signatures.Count} signatures; a Sigstore bundle carries exactly one";
            }
        }
        else
        {
            return "the bundle has neither a messageSignature nor a dsseEnvelope";
        }

        var entries = new List<BundleTlogEntry>();
        if (material.TryGetProperty("tlogEntries", out var tlogEntries) && tlogEntries.ValueKind == JsonValueKind.Array)
        {
            if (tlogEntries.GetArrayLength() > MaxEntries)
            {
                return $"the bundle holds more than {MaxEntries} transparency log entries";
            }

            foreach (var element in tlogEntries.EnumerateArray())
            {
                var entryError = ParseEntry(element, minor, out var entry);
                if (entryError is not null)
                {
                    return entryError;
                }

                entries.Add(entry!);
            }
        }

        var timestamps = new List<byte[]>();
        if (material.TryGetProperty("timestampVerificationData", out var timestampData) && timestampData.ValueKind == JsonValueKind.Object
            && timestampData.TryGetProperty("rfc3161Timestamps", out var rfc3161) && rfc3161.ValueKind == JsonValueKind.Array)
        {
            if (rfc3161.GetArrayLength() > MaxEntries)
            {
                return $"the bundle holds more than {MaxEntries} signed timestamps";
            }

            foreach (var element in rfc3161.EnumerateArray())
            {
                timestamps.Add(Bytes(element, "signedTimestamp"));
            }
        }

        bundle = new SigstoreBundle(mediaType, minor, certificate, hint, messageSignature, envelope, entries, timestamps);
        return null;
    }

    private static string? ParseEntry(JsonElement element, int minor, out BundleTlogEntry? entry)
    {
        entry = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            return "a transparency log entry is not an object";
        }

        var logIndex = Int64(element, "logIndex");
        if (logIndex < 0)
        {
            return "a transparency log entry has a negative log index";
        }

        var logId = element.GetProperty("logId");
        var kindVersion = element.GetProperty("kindVersion");
        var kind = kindVersion.GetProperty("kind").GetString() ?? string.Empty;
        var version = kindVersion.GetProperty("version").GetString() ?? string.Empty;
        var integratedTime = Int64(element, "integratedTime");
        if (integratedTime < 0)
        {
            return "a transparency log entry has a negative integrated time";
        }

        byte[]? set = null;
        if (element.TryGetProperty("inclusionPromise", out var promise) && promise.ValueKind == JsonValueKind.Object)
        {
            set = Bytes(promise, "signedEntryTimestamp");
        }

        BundleInclusionProof? proof = null;
        if (element.TryGetProperty("inclusionProof", out var inclusion) && inclusion.ValueKind == JsonValueKind.Object)
        {
            var hashes = new List<byte[]>();
            if (inclusion.TryGetProperty("hashes", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var hash in list.EnumerateArray())
                {
                    hashes.Add(Convert.FromBase64String(hash.GetString()!));
                }
            }

            string? checkpoint = null;
            if (inclusion.TryGetProperty("checkpoint", out var c) && c.ValueKind == JsonValueKind.Object
                && c.TryGetProperty("envelope", out var envelope) && envelope.ValueKind == JsonValueKind.String)
            {
                checkpoint = envelope.GetString();
            }

            proof = new BundleInclusionProof(Int64(inclusion, "logIndex"), Bytes(inclusion, "rootHash"), Int64(inclusion, "treeSize"), hashes, checkpoint);
            if (proof.LogIndex < 0 || proof.TreeSize <= 0 || proof.LogIndex >= proof.TreeSize)
            {
                return "a transparency log entry's inclusion proof has an index outside its tree";
            }
        }

        // v0.1 bundles prove logging with the SignedEntryTimestamp; from v0.2 on the inclusion proof is required.
        if (minor == 1 && set is null)
        {
            return "a v0.1 bundle's transparency log entry has no inclusion promise";
        }

        if (minor >= 2 && proof is null)
        {
            return "the transparency log entry has no inclusion proof (required from bundle v0.2 on)";
        }

        if (!element.TryGetProperty("canonicalizedBody", out var body) || body.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(body.GetString()))
        {
            return "a transparency log entry has no canonicalized body";
        }

        entry = new BundleTlogEntry(logIndex, Bytes(logId, "keyId"), kind, version, integratedTime, set, proof, body.GetString()!);
        return null;
    }

    /// <summary>A protobuf <c>bytes</c> field: standard base64 (protobuf JSON also accepts the URL-safe alphabet).</summary>
    private static byte[] Bytes(JsonElement parent, string name)
    {
        var text = parent.GetProperty(name).GetString() ?? throw new FormatException($"'{name}' is null");
        if (text.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            // Line-wrapped base64 (as `base64` writes it) is accepted, as protobuf JSON parsers accept it.
            text = text.Replace("\r", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal);
        }

        if (text.Contains('-', StringComparison.Ordinal) || text.Contains('_', StringComparison.Ordinal))
        {
            text = text.Replace('-', '+').Replace('_', '/');
        }

        if (text.Length % 4 != 0)
        {
            text = text.PadRight(text.Length + (4 - (text.Length % 4)), '=');
        }

        return Convert.FromBase64String(text);
    }

    /// <summary>A protobuf <c>int64</c>: a JSON string of digits, or a number; absent means zero.</summary>
    private static long Int64(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var value))
        {
            return 0;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number => value.GetInt64(),
            JsonValueKind.String => long.Parse(value.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
            _ => throw new FormatException($"'{name}' is not an integer"),
        };
    }
}

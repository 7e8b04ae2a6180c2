using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>A DSSE envelope (<c>application/vnd.dsse.envelope.v1+json</c>): a typed payload and its signatures.</summary>
public sealed class DsseEnvelope
{
    public const string MediaType = "application/vnd.dsse.envelope.v1+json";
    public const string InTotoPayloadType = "application/vnd.in-toto+json";

    private DsseEnvelope(string payloadType, byte[] payload, IReadOnlyList<byte[]> signatures)
    {
        PayloadType = payloadType;
        Payload = payload;
        Signatures = signatures;
    }

    public string PayloadType { get; }

    public byte[] Payload { get; }

    public IReadOnlyList<byte[]> Signatures { get; }

    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out DsseEnvelope? envelope, [NotNullWhen(false)] out string? error)
    {
        envelope = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("payloadType", out var type) || type.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("signatures", out var signatures) || signatures.ValueKind != JsonValueKind.Array)
            {
                error = "the DSSE envelope lacks payloadType, payload or signatures";
                return false;
            }

            var list = new List<byte[]>();
            foreach (var signature in signatures.EnumerateArray())
            {
                if (signature.ValueKind == JsonValueKind.Object && signature.TryGetProperty("sig", out var sig) && sig.ValueKind == JsonValueKind.String)
                {
                    list.Add(Convert.FromBase64String(sig.GetString()!));
                }
            }

            envelope = new DsseEnvelope(type.GetString()!, Convert.FromBase64String(payload.GetString()!), list);
            error = null;
            return true;
        }
        // JsonDocument checks the syntax but not the text inside strings: invalid UTF-8 or a lone surrogate escape
        // (\uD800) only fails when the string is read, with InvalidOperationException. This content comes from the
        // registry, so that is a malformed document like any other, not an exception that escapes verification.
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            error = "the DSSE envelope is malformed: " + e.Message;
            return false;
        }
    }

    /// <summary>The bytes DSSE signs: <c>"DSSEv1" SP len(type) SP type SP len(payload) SP payload</c>.</summary>
    public static byte[] PreAuthenticationEncoding(string payloadType, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(payloadType);
        var type = Encoding.UTF8.GetBytes(payloadType);
        var header = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"DSSEv1 {type.Length} "));
        var middle = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $" {payload.Length} "));
        var result = new byte[header.Length + type.Length + middle.Length + payload.Length];
        header.CopyTo(result, 0);
        type.CopyTo(result, header.Length);
        middle.CopyTo(result, header.Length + type.Length);
        payload.CopyTo(result.AsSpan(header.Length + type.Length + middle.Length));
        return result;
    }
}

/// <summary>An in-toto Statement (v0.1 or v1): the subjects it is about, and its typed predicate.</summary>
public sealed class InTotoStatement
{
    public const string StatementV01 = "https://in-toto.io/Statement/v0.1";
    public const string StatementV1 = "https://in-toto.io/Statement/v1";

    private InTotoStatement(string predicateType, IReadOnlyList<(string Name, IReadOnlyDictionary<string, string> Digest)> subjects, JsonElement statement)
    {
        PredicateType = predicateType;
        Subjects = subjects;
        Statement = statement;
    }

    public string PredicateType { get; }

    public IReadOnlyList<(string Name, IReadOnlyDictionary<string, string> Digest)> Subjects { get; }

    /// <summary>The whole statement; <c>predicate</c> is what Kyverno hands to attestation conditions.</summary>
    public JsonElement Statement { get; }

    public JsonElement Predicate => Statement.TryGetProperty("predicate", out var predicate) ? predicate : default;

    /// <summary>
    /// A Notation attestation read as Kyverno reads it: <c>{"type": artifact type, "predicate": the layer}</c>. It names
    /// no subjects; its Notation signature names the attestation's manifest, whose subject is the image.
    /// </summary>
    internal static InTotoStatement ForNotaryAttestation(string artifactType, JsonElement statement) => new(artifactType, [], statement);

    /// <summary>True when a subject names <paramref name="digest"/> (<c>sha256:…</c>).</summary>
    public bool IsAbout(string digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        var algorithm = digest[..colon];
        var hex = digest[(colon + 1)..];
        return Subjects.Any(s => s.Digest.TryGetValue(algorithm, out var value) && string.Equals(value, hex, StringComparison.OrdinalIgnoreCase));
    }

    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out InTotoStatement? statement, [NotNullWhen(false)] out string? error)
    {
        statement = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("_type", out var type) || type.ValueKind != JsonValueKind.String
                || type.GetString() is not (StatementV01 or StatementV1))
            {
                error = "the payload is not an in-toto Statement v0.1 or v1";
                return false;
            }

            if (!root.TryGetProperty("predicateType", out var predicateType) || predicateType.ValueKind != JsonValueKind.String)
            {
                error = "the in-toto statement has no predicateType";
                return false;
            }

            var subjects = new List<(string, IReadOnlyDictionary<string, string>)>();
            if (root.TryGetProperty("subject", out var subjectArray) && subjectArray.ValueKind == JsonValueKind.Array)
            {
                foreach (var subject in subjectArray.EnumerateArray())
                {
                    if (subject.ValueKind != JsonValueKind.Object || !subject.TryGetProperty("digest", out var digest) || digest.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    var digests = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var property in digest.EnumerateObject())
                    {
                        if (property.Value.ValueKind == JsonValueKind.String)
                        {
                            digests[property.Name] = property.Value.GetString()!;
                        }
                    }

                    subjects.Add((subject.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString()! : string.Empty, digests));
                }
            }

            // The predicate is read later by conditions: a string in it that cannot be read fails the statement now.
            if (!JsonText.IsReadable(root))
            {
                error = "the in-toto statement holds a string that is not valid UTF-8 or Unicode";
                return false;
            }

            statement = new InTotoStatement(predicateType.GetString()!, subjects, root.Clone());
            error = null;
            return true;
        }
        // As for the envelope: strings that are not valid Unicode only fail when read.
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            error = "the in-toto statement is not valid JSON: " + e.Message;
            return false;
        }
    }
}

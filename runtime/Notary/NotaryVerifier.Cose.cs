using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Notary;

public static partial class NotaryVerifier
{
    /// <summary>
    /// A Notary Project COSE envelope (signature-envelope-cose.md): a <c>COSE_Sign1_Tagged</c> object, tag 18 around
    /// <c>[protected bstr, unprotected map, payload bstr, signature bstr]</c>. The protected header holds <c>alg</c> (1),
    /// <c>crit</c> (2), <c>content type</c> (3) and the Notary parameters, its times as epoch-based date/times (tag 1) as
    /// notation-core-go requires; the unprotected header holds <c>x5chain</c> (33), an array of DER certificates, leaf
    /// first. Read strictly: no duplicate map keys, definite-length headers, nothing after the envelope.
    /// </summary>
    private static class CoseEnvelope
    {
        private const int AlgorithmLabel = 1;
        private const int CriticalLabel = 2;
        private const int ContentTypeLabel = 3;
        private const int X5ChainLabel = 33;
        private const int MaxChainLength = 10;

        public static NotaryEnvelope? Parse(byte[] bytes, out string? error)
        {
            try
            {
                var reader = new CborReader(bytes, CborConformanceMode.Strict);
                if (reader.PeekState() != CborReaderState.Tag || reader.ReadTag() != (CborTag)18)
                {
                    error = "the COSE envelope is not a COSE_Sign1_Tagged object (tag 18)";
                    return null;
                }

                if (reader.ReadStartArray() != 4)
                {
                    error = "the COSE_Sign1 object is not an array of four items";
                    return null;
                }

                var protectedBytes = reader.ReadByteString();
                var (chain, unprotectedLabels) = ReadUnprotected(reader, out error);
                if (chain is null)
                {
                    return null;
                }

                if (reader.PeekState() != CborReaderState.ByteString)
                {
                    error = "the COSE envelope's payload is detached or not a byte string";
                    return null;
                }

                var payloadBytes = reader.ReadByteString();
                var signature = reader.ReadByteString();
                reader.ReadEndArray();
                if (reader.BytesRemaining != 0)
                {
                    error = "the COSE envelope has data after the COSE_Sign1 object";
                    return null;
                }

                if (ReadProtected(protectedBytes, unprotectedLabels, out error) is not { } header)
                {
                    return null;
                }

                var payload = JwsEnvelope.ParsePayload(payloadBytes, out error);
                if (payload is null)
                {
                    return null;
                }

                return new NotaryEnvelope(header.Algorithm, header.Scheme, header.SigningTime, header.Expiry, payload, chain, ToBeSigned(protectedBytes, payloadBytes), signature, AnyPssSaltLength: false);
            }
            catch (Exception e) when (e is CborContentException or InvalidOperationException or FormatException or OverflowException or CryptographicException or System.Text.Json.JsonException)
            {
                // CborReader reports a value of another type than the one read (or a duplicate key, an indefinite length
                // in strict mode, a truncation) as one of the first two; an integer label beyond 32 bits overflows.
                error = "the COSE envelope is malformed: " + e.Message;
                return null;
            }
        }

        /// <summary>What was signed: the CBOR <c>Sig_structure</c> <c>["Signature1", protected, h'', payload]</c> (RFC 9052 4.4).</summary>
        private static byte[] ToBeSigned(byte[] protectedBytes, byte[] payload)
        {
            var writer = new CborWriter(CborConformanceMode.Strict);
            writer.WriteStartArray(4);
            writer.WriteTextString("Signature1");
            writer.WriteByteString(protectedBytes);
            writer.WriteByteString([]);
            writer.WriteByteString(payload);
            writer.WriteEndArray();
            return writer.Encode();
        }

        private static (List<X509Certificate2>? Chain, HashSet<object> Labels) ReadUnprotected(CborReader reader, out string? error)
        {
            var labels = new HashSet<object>();
            List<X509Certificate2>? chain = null;
            var count = reader.ReadStartMap();
            if (count is null)
            {
                error = "the unprotected header has an indefinite length";
                return (null, labels);
            }

            for (var i = 0; i < count; i++)
            {
                var label = ReadLabel(reader);
                labels.Add(label);
                if (label is int and (AlgorithmLabel or CriticalLabel or ContentTypeLabel))
                {
                    error = $"the unprotected header carries label {label}, which belongs in the protected header";
                    return (null, labels);
                }

                if (label is X5ChainLabel)
                {
                    // notation-core-go reads x5chain as an array of DER certificates only (not a lone byte string).
                    var length = reader.PeekState() == CborReaderState.StartArray ? reader.ReadStartArray() : null;
                    if (length is not (> 0 and <= MaxChainLength))
                    {
                        error = $"the unprotected header's x5chain is not an array of 1 to {MaxChainLength} certificates";
                        return (null, labels);
                    }

                    chain = [];
                    for (var c = 0; c < length; c++)
                    {
                        chain.Add(X509CertificateLoader.LoadCertificate(reader.ReadByteString()));
                    }

                    reader.ReadEndArray();
                    continue;
                }

                // The signing agent and a timestamp countersignature (not read: no timestamp authority is trusted).
                reader.SkipValue();
            }

            reader.ReadEndMap();
            if (chain is null)
            {
                error = "the COSE envelope's unprotected header has no x5chain certificate chain";
                return (null, labels);
            }

            error = null;
            return (chain, labels);
        }

        private static (string Algorithm, string Scheme, DateTimeOffset SigningTime, DateTimeOffset? Expiry)? ReadProtected(byte[] bytes, HashSet<object> unprotectedLabels, out string? error)
        {
            var reader = new CborReader(bytes, CborConformanceMode.Strict);
            var count = reader.ReadStartMap();
            if (count is null)
            {
                error = "the protected header has an indefinite length";
                return null;
            }

            int? algorithm = null;
            string? contentType = null;
            List<object>? critical = null;
            string? scheme = null;
            string? plugin = null;
            var times = new Dictionary<string, DateTimeOffset?>(StringComparer.Ordinal);
            var labels = new HashSet<object>();
            for (var i = 0; i < count; i++)
            {
                var label = ReadLabel(reader);
                labels.Add(label);
                if (unprotectedLabels.Contains(label))
                {
                    error = $"the header parameter {Describe(label)} is in both the protected and the unprotected header";
                    return null;
                }

                switch (label)
                {
                    case AlgorithmLabel:
                        algorithm = reader.PeekState() is CborReaderState.NegativeInteger or CborReaderState.UnsignedInteger ? reader.ReadInt32() : null;
                        if (algorithm is null)
                        {
                            error = "the protected header's alg is not an integer";
                            return null;
                        }

                        break;
                    case CriticalLabel:
                        critical = [];
                        var length = reader.ReadStartArray();
                        for (var c = 0; c < length; c++)
                        {
                            critical.Add(ReadLabel(reader));
                        }

                        reader.ReadEndArray();
                        break;
                    case ContentTypeLabel:
                        contentType = reader.PeekState() == CborReaderState.TextString ? reader.ReadTextString() : null;
                        if (contentType is null)
                        {
                            error = "the protected header's content type is not a text string";
                            return null;
                        }

                        break;
                    case SigningScheme:
                        scheme = reader.ReadTextString();
                        break;
                    case VerificationPlugin:
                        plugin = reader.PeekState() == CborReaderState.TextString ? reader.ReadTextString() : "(not a text string)";
                        break;
                    case SigningTimeName or AuthenticSigningTime or ExpiryName:
                        times[(string)label] = ReadTime(reader);
                        break;
                    default:
                        reader.SkipValue();
                        break;
                }
            }

            reader.ReadEndMap();
            if (reader.BytesRemaining != 0)
            {
                error = "the protected header has data after its map";
                return null;
            }

            var name = algorithm switch
            {
                -37 => "PS256",
                -38 => "PS384",
                -39 => "PS512",
                -7 => "ES256",
                -35 => "ES384",
                -36 => "ES512",
                _ => null,
            };
            if (name is null)
            {
                error = $"the protected header's alg {(algorithm is { } value ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(missing)")} is not one of PS256 (-37), PS384 (-38), PS512 (-39), ES256 (-7), ES384 (-35), ES512 (-36)";
                return null;
            }

            if (contentType != PayloadContentType)
            {
                error = $"the protected header's content type '{contentType}' is not {PayloadContentType}";
                return null;
            }

            if (scheme is not (SchemeX509 or SchemeSigningAuthority))
            {
                error = $"the signing scheme '{scheme}' is not {SchemeX509} or {SchemeSigningAuthority}";
                return null;
            }

            if (critical is not { Count: > 0 })
            {
                error = "the protected header has no crit list";
                return null;
            }

            var distinct = new HashSet<object>();
            foreach (var entry in critical)
            {
                // RFC 9052: crit names parameters of the protected header, never the integer labels 0 to 8 it defines.
                if (entry is int and >= 0 and <= 8 || !distinct.Add(entry) || !labels.Contains(entry))
                {
                    error = $"the crit entry {Describe(entry)} does not name a distinct parameter of the protected header";
                    return null;
                }
            }

            if (MissingCritical(scheme, times.ContainsKey(ExpiryName), name => distinct.Contains(name)) is { } missing)
            {
                error = $"the protected header must list {missing} in crit";
                return null;
            }

            if (plugin is not null)
            {
                error = $"the signature requires the verification plugin '{plugin}', which is not available";
                return null;
            }

            var timeName = scheme == SchemeX509 ? SigningTimeName : AuthenticSigningTime;
            if (!times.TryGetValue(timeName, out var signingTime) || signingTime is null)
            {
                error = $"the protected header has no valid {timeName} (an epoch-based date/time, tag 1)";
                return null;
            }

            DateTimeOffset? expiry = null;
            if (times.TryGetValue(ExpiryName, out var expiryValue))
            {
                expiry = expiryValue;
                if (expiry is null || expiry <= signingTime)
                {
                    error = "the signature's expiry is not an epoch-based date/time (tag 1) after its signing time";
                    return null;
                }
            }

            error = null;
            return (name, scheme, signingTime.Value, expiry);
        }

        // A header label: an integer or a text string (RFC 9052 3.1); anything else is malformed.
        private static object ReadLabel(CborReader reader) => reader.PeekState() switch
        {
            CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger => reader.ReadInt32(),
            CborReaderState.TextString => reader.ReadTextString(),
            _ => throw new CborContentException("a header label is neither an integer nor a text string"),
        };

        /// <summary>An epoch-based date/time: tag 1 around an integer or a float of seconds; null when it is not one.</summary>
        private static DateTimeOffset? ReadTime(CborReader reader)
        {
            if (reader.PeekState() != CborReaderState.Tag || reader.PeekTag() != CborTag.UnixTimeSeconds)
            {
                reader.SkipValue();
                return null;
            }

            reader.ReadTag();
            double seconds = reader.PeekState() switch
            {
                CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger => reader.ReadInt64(),
                CborReaderState.HalfPrecisionFloat or CborReaderState.SinglePrecisionFloat or CborReaderState.DoublePrecisionFloat => reader.ReadDouble(),
                _ => double.NaN,
            };
            if (double.IsNaN(seconds))
            {
                reader.SkipValue();
                return null;
            }

            // Go's time.Time spans far more; DateTimeOffset's years 1 to 9999 are what can be compared here.
            return seconds is >= -62135596800 and <= 253402300799
                ? DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond))
                : null;
        }

        private static string Describe(object label) => label is string text ? $"'{text}'" : Convert.ToString(label, System.Globalization.CultureInfo.InvariantCulture)!;
    }
}

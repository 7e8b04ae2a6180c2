using System.Buffers.Binary;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// Checks the SCTs a CA embedded in a certificate (RFC 6962 §3.3): each is a CT log's signature over the
/// precertificate, i.e. the TBSCertificate without the SCT list extension, bound to the issuer's key.
/// One SCT from a trusted log suffices, as in cosign.
/// </summary>
public static class SignedCertificateTimestamps
{
    public const string SctListOid = "1.3.6.1.4.1.11129.2.4.2";

    /// <summary>Null when a trusted log's SCT verifies; otherwise the reason.</summary>
    public static string? Verify(X509Certificate2 certificate, X509Certificate2 issuer, IReadOnlyList<TransparencyLog> logs)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(logs);
        var extension = certificate.Extensions.Cast<X509Extension>().FirstOrDefault(e => e.Oid?.Value == SctListOid);
        if (extension is null)
        {
            return "the certificate has no embedded SCT";
        }

        try
        {
            var list = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadOctetString();
            var scts = ParseList(list);
            var tbs = TbsWithoutSctList(certificate.RawData);
            var issuerKeyHash = SHA256.HashData(issuer.PublicKey.ExportSubjectPublicKeyInfo());
            string? last = null;
            foreach (var sct in scts)
            {
                var log = logs.FirstOrDefault(l => l.LogId.AsSpan().SequenceEqual(sct.LogId));
                if (log is null)
                {
                    last = "the SCT comes from a CT log that is not trusted";
                    continue;
                }

                if (log.Key.Verify(SignedData(sct, issuerKeyHash, tbs), sct.Signature))
                {
                    return null;
                }

                last = "the SCT signature does not verify with the CT log key";
            }

            return last ?? "the SCT list is empty";
        }
        catch (Exception e) when (e is AsnContentException or FormatException or ArgumentOutOfRangeException or CryptographicException)
        {
            return "the embedded SCT list is malformed: " + e.Message;
        }
    }

    private sealed record Sct(byte[] LogId, ulong Timestamp, byte[] Extensions, byte[] Signature);

    private static List<Sct> ParseList(ReadOnlySpan<byte> data)
    {
        var total = Read16(ref data);
        if (total != data.Length)
        {
            throw new FormatException("SCT list length does not match its content");
        }

        var result = new List<Sct>();
        while (!data.IsEmpty)
        {
            var length = Read16(ref data);
            var item = Take(ref data, length);
            var version = Take(ref item, 1)[0];
            if (version != 0)
            {
                throw new FormatException($"unsupported SCT version {version}");
            }

            var logId = Take(ref item, 32).ToArray();
            var timestamp = BinaryPrimitives.ReadUInt64BigEndian(Take(ref item, 8));
            var extensions = Take(ref item, Read16(ref item)).ToArray();
            var hash = Take(ref item, 1)[0];
            var signatureAlgorithm = Take(ref item, 1)[0];
            if (hash != 4 || signatureAlgorithm != 3)
            {
                throw new FormatException("only ECDSA with SHA-256 SCTs are supported");
            }

            var signature = Take(ref item, Read16(ref item)).ToArray();
            if (!item.IsEmpty)
            {
                throw new FormatException("trailing bytes in an SCT");
            }

            result.Add(new Sct(logId, timestamp, extensions, signature));
        }

        return result;
    }

    /// <summary>RFC 6962 digitally-signed struct for a precert entry.</summary>
    private static byte[] SignedData(Sct sct, byte[] issuerKeyHash, byte[] tbs)
    {
        var buffer = new byte[1 + 1 + 8 + 2 + 32 + 3 + tbs.Length + 2 + sct.Extensions.Length];
        var span = buffer.AsSpan();
        span[0] = 0; // version v1
        span[1] = 0; // signature_type certificate_timestamp
        BinaryPrimitives.WriteUInt64BigEndian(span[2..], sct.Timestamp);
        BinaryPrimitives.WriteUInt16BigEndian(span[10..], 1); // entry_type precert_entry
        issuerKeyHash.CopyTo(span[12..]);
        span[44] = (byte)(tbs.Length >> 16);
        span[45] = (byte)(tbs.Length >> 8);
        span[46] = (byte)tbs.Length;
        tbs.CopyTo(span[47..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[(47 + tbs.Length)..], (ushort)sct.Extensions.Length);
        sct.Extensions.CopyTo(span[(49 + tbs.Length)..]);
        return buffer;
    }

    /// <summary>Re-encodes the certificate's TBSCertificate with the SCT list extension removed.</summary>
    internal static byte[] TbsWithoutSctList(byte[] certificateDer)
    {
        var certificate = new AsnReader(certificateDer, AsnEncodingRules.DER).ReadSequence();
        var tbs = certificate.ReadSequence();
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            var extensionsTag = new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true);
            while (tbs.HasData)
            {
                if (!tbs.PeekTag().HasSameClassAndValue(extensionsTag))
                {
                    writer.WriteEncodedValue(tbs.ReadEncodedValue().Span);
                    continue;
                }

                var extensions = tbs.ReadSequence(extensionsTag).ReadSequence();
                using (writer.PushSequence(extensionsTag))
                using (writer.PushSequence())
                {
                    while (extensions.HasData)
                    {
                        var encoded = extensions.ReadEncodedValue();
                        var oid = new AsnReader(encoded, AsnEncodingRules.DER).ReadSequence().ReadObjectIdentifier();
                        if (oid != SctListOid)
                        {
                            writer.WriteEncodedValue(encoded.Span);
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    private static int Read16(ref ReadOnlySpan<byte> data) => BinaryPrimitives.ReadUInt16BigEndian(Take(ref data, 2));

    private static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> data, int count)
    {
        if (count > data.Length)
        {
            throw new FormatException("SCT data is truncated");
        }

        var taken = data[..count];
        data = data[count..];
        return taken;
    }
}

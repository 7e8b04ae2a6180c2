using System.Formats.Asn1;
using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary><c>x509_decode</c>: a PEM certificate or certificate request as the object Go's <c>encoding/json</c> makes of <c>x509.Certificate</c>.</summary>
public static partial class KyvernoFunctions
{
    public static JmesValue X509Decode(JmesValue pem)
    {
        var text = Str("x509_decode", 1, pem);
        var begin = text.IndexOf("-----BEGIN ", StringComparison.Ordinal);
        var typeEnd = begin < 0 ? -1 : text.IndexOf("-----", begin + 11, StringComparison.Ordinal);
        if (begin < 0 || typeEnd < 0)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "failed to decode PEM block");
        }

        var type = text[(begin + 11)..typeEnd];
        var end = text.IndexOf("-----END " + type + "-----", typeEnd, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "failed to decode PEM block");
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(text[(typeEnd + 5)..end]);
        }
        catch (FormatException)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "failed to decode PEM block");
        }

        try
        {
            return type switch
            {
                "CERTIFICATE" => DecodeCertificate(der),
                "CERTIFICATE REQUEST" => DecodeRequest(der),
                _ => throw new JmesPathException(JmesErrorKind.FunctionError, "PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST"),
            };
        }
        catch (AsnContentException e)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "x509: malformed certificate: " + e.Message, e);
        }
    }

    private static JmesValue DecodeCertificate(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbsRaw = outer.PeekEncodedValue().ToArray();
        var tbs = outer.ReadSequence();
        var signatureAlgorithm = ReadAlgorithm(outer);
        var signature = outer.ReadBitString(out _);

        var version = 1;
        if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
        {
            var explicitVersion = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true));
            version = (int)explicitVersion.ReadInteger() + 1;
        }

        var serial = tbs.ReadInteger();
        tbs.ReadSequence();
        var issuerRaw = tbs.PeekEncodedValue().ToArray();
        var issuer = ReadName(tbs);
        var validity = tbs.ReadSequence();
        var notBefore = ReadTime(validity);
        var notAfter = ReadTime(validity);
        var subjectRaw = tbs.PeekEncodedValue().ToArray();
        var subject = ReadName(tbs);
        var spkiRaw = tbs.PeekEncodedValue().ToArray();
        var (publicKeyAlgorithm, publicKey) = ReadPublicKey(tbs);
        var extensions = new List<(string Oid, bool Critical, byte[] Value)>();
        while (tbs.HasData)
        {
            var tag = tbs.PeekTag();
            if (tag.HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 3, true)))
            {
                var list = tbs.ReadSequence(tag).ReadSequence();
                while (list.HasData)
                {
                    var ext = list.ReadSequence();
                    var oid = ext.ReadObjectIdentifier();
                    var critical = ext.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && ext.ReadBoolean();
                    extensions.Add((oid, critical, ext.ReadOctetString()));
                }
            }
            else
            {
                tbs.ReadEncodedValue();
            }
        }

        var o = new JmesObject(48)
            .Set("Raw", Base64(der))
            .Set("RawTBSCertificate", Base64(tbsRaw))
            .Set("RawSubjectPublicKeyInfo", Base64(spkiRaw))
            .Set("RawSubject", Base64(subjectRaw))
            .Set("RawIssuer", Base64(issuerRaw))
            .Set("Signature", Base64(signature))
            .Set("SignatureAlgorithm", JmesValue.From(signatureAlgorithm))
            .Set("PublicKeyAlgorithm", JmesValue.From(publicKeyAlgorithm))
            .Set("PublicKey", publicKey)
            .Set("Version", JmesValue.From(version))
            .Set("SerialNumber", JmesValue.From((double)serial))
            .Set("Issuer", issuer)
            .Set("Subject", subject)
            .Set("NotBefore", JmesValue.From(GoTime.FormatRfc3339(notBefore)))
            .Set("NotAfter", JmesValue.From(GoTime.FormatRfc3339(notAfter)));

        var keyUsage = 0;
        var isCa = false;
        var basicConstraints = false;
        var maxPathLen = 0;
        JmesValue subjectKeyId = JmesValue.Null, authorityKeyId = JmesValue.Null;
        var dns = new List<JmesValue>();
        var emails = new List<JmesValue>();
        var ips = new List<JmesValue>();
        var uris = new List<JmesValue>();
        var extKeyUsage = new List<JmesValue>();
        foreach (var (oid, _, value) in extensions)
        {
            var reader = new AsnReader(value, AsnEncodingRules.DER);
            switch (oid)
            {
                case "2.5.29.15":
                    var bits = reader.ReadBitString(out var unused);
                    for (var i = 0; i < (bits.Length * 8) - unused && i < 9; i++)
                    {
                        if ((bits[i / 8] & (0x80 >> (i % 8))) != 0)
                        {
                            keyUsage |= 1 << i;
                        }
                    }

                    break;
                case "2.5.29.19":
                    basicConstraints = true;
                    var bc = reader.ReadSequence();
                    if (bc.HasData && bc.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                    {
                        isCa = bc.ReadBoolean();
                    }

                    maxPathLen = bc.HasData ? (int)bc.ReadInteger() : -1;
                    break;
                case "2.5.29.14":
                    subjectKeyId = Base64(reader.ReadOctetString());
                    break;
                case "2.5.29.35":
                    var aki = reader.ReadSequence();
                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
                    {
                        authorityKeyId = Base64(aki.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0)));
                    }

                    break;
                case "2.5.29.17":
                    var names = reader.ReadSequence();
                    while (names.HasData)
                    {
                        var tag = names.PeekTag();
                        var content = names.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, tag.TagValue));
                        switch (tag.TagValue)
                        {
                            case 1: emails.Add(JmesValue.From(Encoding.ASCII.GetString(content))); break;
                            case 2: dns.Add(JmesValue.From(Encoding.ASCII.GetString(content))); break;
                            case 6: uris.Add(JmesValue.From(Encoding.ASCII.GetString(content))); break;
                            case 7: ips.Add(JmesValue.From(new System.Net.IPAddress(content).ToString())); break;
                        }
                    }

                    break;
                case "2.5.29.37":
                    var usages = reader.ReadSequence();
                    while (usages.HasData)
                    {
                        extKeyUsage.Add(JmesValue.From(ExtKeyUsageNumber(usages.ReadObjectIdentifier())));
                    }

                    break;
            }
        }

        if (basicConstraints && !isCa)
        {
            maxPathLen = -1;
        }

        o.Set("KeyUsage", JmesValue.From(keyUsage))
            .Set("Extensions", extensions.Count == 0 ? JmesValue.Null : JmesValue.FromArray([.. extensions.Select(e => JmesValue.FromObject(new JmesObject(3)
                .Set("Id", Oid(e.Oid)).Set("Critical", JmesValue.From(e.Critical)).Set("Value", Base64(e.Value))))]))
            .Set("ExtraExtensions", JmesValue.Null)
            .Set("UnhandledCriticalExtensions", JmesValue.Null)
            .Set("ExtKeyUsage", ListOrNull(extKeyUsage))
            .Set("UnknownExtKeyUsage", JmesValue.Null)
            .Set("BasicConstraintsValid", JmesValue.From(basicConstraints))
            .Set("IsCA", JmesValue.From(isCa))
            .Set("MaxPathLen", JmesValue.From(maxPathLen))
            .Set("MaxPathLenZero", JmesValue.From(isCa && maxPathLen == 0))
            .Set("SubjectKeyId", subjectKeyId)
            .Set("AuthorityKeyId", authorityKeyId)
            .Set("OCSPServer", JmesValue.Null)
            .Set("IssuingCertificateURL", JmesValue.Null)
            .Set("DNSNames", ListOrNull(dns))
            .Set("EmailAddresses", ListOrNull(emails))
            .Set("IPAddresses", ListOrNull(ips))
            .Set("URIs", ListOrNull(uris));
        foreach (var unset in new[]
        {
            "PermittedDNSDomainsCritical", "PermittedDNSDomains", "ExcludedDNSDomains", "PermittedIPRanges", "ExcludedIPRanges",
            "PermittedEmailAddresses", "ExcludedEmailAddresses", "PermittedURIDomains", "ExcludedURIDomains", "CRLDistributionPoints", "PolicyIdentifiers",
        })
        {
            o.Set(unset, unset == "PermittedDNSDomainsCritical" ? JmesValue.False : JmesValue.Null);
        }

        return JmesValue.FromObject(o);
    }

    private static JmesValue DecodeRequest(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var infoRaw = outer.PeekEncodedValue().ToArray();
        var info = outer.ReadSequence();
        var signatureAlgorithm = ReadAlgorithm(outer);
        var signature = outer.ReadBitString(out _);
        var version = (int)info.ReadInteger();
        var subjectRaw = info.PeekEncodedValue().ToArray();
        var subject = ReadName(info);
        var spkiRaw = info.PeekEncodedValue().ToArray();
        var (publicKeyAlgorithm, publicKey) = ReadPublicKey(info);
        return JmesValue.FromObject(new JmesObject(16)
            .Set("Raw", Base64(der))
            .Set("RawTBSCertificateRequest", Base64(infoRaw))
            .Set("RawSubjectPublicKeyInfo", Base64(spkiRaw))
            .Set("RawSubject", Base64(subjectRaw))
            .Set("Version", JmesValue.From(version))
            .Set("Signature", Base64(signature))
            .Set("SignatureAlgorithm", JmesValue.From(signatureAlgorithm))
            .Set("PublicKeyAlgorithm", JmesValue.From(publicKeyAlgorithm))
            .Set("PublicKey", publicKey)
            .Set("Subject", subject)
            .Set("Attributes", JmesValue.Null)
            .Set("Extensions", JmesValue.Null)
            .Set("ExtraExtensions", JmesValue.Null)
            .Set("DNSNames", JmesValue.Null)
            .Set("EmailAddresses", JmesValue.Null)
            .Set("IPAddresses", JmesValue.Null)
            .Set("URIs", JmesValue.Null));
    }

    private static JmesValue ListOrNull(List<JmesValue> items) => items.Count == 0 ? JmesValue.Null : JmesValue.FromArray([.. items]);

    private static JmesValue Base64(ReadOnlySpan<byte> bytes) => JmesValue.From(Convert.ToBase64String(bytes));

    private static JmesValue Oid(string oid) => JmesValue.FromArray([.. oid.Split('.').Select(p => JmesValue.From(double.Parse(p, CultureInfo.InvariantCulture)))]);

    /// <summary>Go's <c>x509.SignatureAlgorithm</c> numbering.</summary>
    private static int ReadAlgorithm(AsnReader reader)
    {
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        return oid switch
        {
            "1.2.840.113549.1.1.2" => 1,
            "1.2.840.113549.1.1.4" => 2,
            "1.2.840.113549.1.1.5" => 3,
            "1.2.840.113549.1.1.11" => 4,
            "1.2.840.113549.1.1.12" => 5,
            "1.2.840.113549.1.1.13" => 6,
            "1.2.840.10040.4.3" => 7,
            "2.16.840.1.101.3.4.3.2" => 8,
            "1.2.840.10045.4.1" => 9,
            "1.2.840.10045.4.3.2" => 10,
            "1.2.840.10045.4.3.3" => 11,
            "1.2.840.10045.4.3.4" => 12,
            "1.2.840.113549.1.1.10" => 13,
            "1.3.101.112" => 16,
            _ => 0,
        };
    }

    /// <summary>The subject public key; Kyverno supports RSA only and reports it as <c>{N, E}</c>.</summary>
    private static (int Algorithm, JmesValue Key) ReadPublicKey(AsnReader reader)
    {
        var spki = reader.ReadSequence();
        var algorithm = spki.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        var key = spki.ReadBitString(out _);
        if (oid != "1.2.840.113549.1.1.1")
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "certificate should use rsa algorithm");
        }

        var rsa = new AsnReader(key, AsnEncodingRules.DER).ReadSequence();
        var n = rsa.ReadInteger();
        var e = rsa.ReadInteger();
        return (1, JmesValue.FromObject(new JmesObject(2).Set("N", JmesValue.From(n.ToString(CultureInfo.InvariantCulture))).Set("E", JmesValue.From((double)e))));
    }

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

    /// <summary>Go's <c>pkix.Name</c>: the common attributes by name and every attribute in <c>Names</c>.</summary>
    private static JmesValue ReadName(AsnReader reader)
    {
        var fields = new Dictionary<string, List<JmesValue>>(StringComparer.Ordinal);
        string commonName = string.Empty, serialNumber = string.Empty;
        var names = new List<JmesValue>();
        var sequence = reader.ReadSequence();
        while (sequence.HasData)
        {
            var set = sequence.ReadSetOf();
            while (set.HasData)
            {
                var attribute = set.ReadSequence();
                var oid = attribute.ReadObjectIdentifier();
                var tag = attribute.PeekTag();
                var value = tag.TagClass == TagClass.Universal && tag.TagValue is 12 or 19 or 20 or 22 or 26 or 30
                    ? attribute.ReadCharacterString((UniversalTagNumber)tag.TagValue)
                    : Convert.ToBase64String(attribute.ReadEncodedValue().Span);
                names.Add(JmesValue.FromObject(new JmesObject(2).Set("Type", Oid(oid)).Set("Value", JmesValue.From(value))));
                var field = oid switch
                {
                    "2.5.4.6" => "Country",
                    "2.5.4.10" => "Organization",
                    "2.5.4.11" => "OrganizationalUnit",
                    "2.5.4.7" => "Locality",
                    "2.5.4.8" => "Province",
                    "2.5.4.9" => "StreetAddress",
                    "2.5.4.17" => "PostalCode",
                    _ => null,
                };
                if (field is not null)
                {
                    if (!fields.TryGetValue(field, out var list))
                    {
                        fields[field] = list = [];
                    }

                    list.Add(JmesValue.From(value));
                }
                else if (oid == "2.5.4.3")
                {
                    commonName = value;
                }
                else if (oid == "2.5.4.5")
                {
                    serialNumber = value;
                }
            }
        }

        var result = new JmesObject(11);
        foreach (var field in new[] { "Country", "Organization", "OrganizationalUnit", "Locality", "Province", "StreetAddress", "PostalCode" })
        {
            result.Set(field, fields.TryGetValue(field, out var list) ? JmesValue.FromArray([.. list]) : JmesValue.Null);
        }

        return JmesValue.FromObject(result
            .Set("SerialNumber", JmesValue.From(serialNumber))
            .Set("CommonName", JmesValue.From(commonName))
            .Set("Names", JmesValue.FromArray([.. names]))
            .Set("ExtraNames", JmesValue.Null));
    }

    private static int ExtKeyUsageNumber(string oid) => oid switch
    {
        "2.5.29.37.0" => 0,
        "1.3.6.1.5.5.7.3.1" => 1,
        "1.3.6.1.5.5.7.3.2" => 2,
        "1.3.6.1.5.5.7.3.3" => 3,
        "1.3.6.1.5.5.7.3.4" => 4,
        "1.3.6.1.5.5.7.3.5" => 5,
        "1.3.6.1.5.5.7.3.6" => 6,
        "1.3.6.1.5.5.7.3.7" => 7,
        "1.3.6.1.5.5.7.3.8" => 8,
        "1.3.6.1.5.5.7.3.9" => 9,
        _ => -1,
    };
}

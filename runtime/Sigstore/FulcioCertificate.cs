using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// The identity a Fulcio (or Fulcio-like) certificate carries: the subject alternative name and the OIDC issuer
/// and CI extensions under 1.3.6.1.4.1.57264.1.*. See Fulcio's docs/oid-info.md.
/// </summary>
public sealed class FulcioCertificate
{
    public const string OidcIssuerV1 = "1.3.6.1.4.1.57264.1.1";
    public const string OidcIssuerV2 = "1.3.6.1.4.1.57264.1.8";

    /// <summary>Kyverno's names for the extensions a policy can require (<c>additionalExtensions</c>).</summary>
    public static IReadOnlyDictionary<string, string> ExtensionNames { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["issuer"] = OidcIssuerV1,
        ["githubWorkflowTrigger"] = "1.3.6.1.4.1.57264.1.2",
        ["githubWorkflowSha"] = "1.3.6.1.4.1.57264.1.3",
        ["githubWorkflowName"] = "1.3.6.1.4.1.57264.1.4",
        ["githubWorkflowRepository"] = "1.3.6.1.4.1.57264.1.5",
        ["githubWorkflowRef"] = "1.3.6.1.4.1.57264.1.6",
        ["otherName"] = "1.3.6.1.4.1.57264.1.7",
        ["issuerV2"] = OidcIssuerV2,
        ["buildSignerURI"] = "1.3.6.1.4.1.57264.1.9",
        ["buildSignerDigest"] = "1.3.6.1.4.1.57264.1.10",
        ["runnerEnvironment"] = "1.3.6.1.4.1.57264.1.11",
        ["sourceRepositoryURI"] = "1.3.6.1.4.1.57264.1.12",
        ["sourceRepositoryDigest"] = "1.3.6.1.4.1.57264.1.13",
        ["sourceRepositoryRef"] = "1.3.6.1.4.1.57264.1.14",
        ["sourceRepositoryIdentifier"] = "1.3.6.1.4.1.57264.1.15",
        ["sourceRepositoryOwnerURI"] = "1.3.6.1.4.1.57264.1.16",
        ["sourceRepositoryOwnerIdentifier"] = "1.3.6.1.4.1.57264.1.17",
        ["buildConfigURI"] = "1.3.6.1.4.1.57264.1.18",
        ["buildConfigDigest"] = "1.3.6.1.4.1.57264.1.19",
        ["buildTrigger"] = "1.3.6.1.4.1.57264.1.20",
        ["runInvocationURI"] = "1.3.6.1.4.1.57264.1.21",
        ["sourceRepositoryVisibilityAtSigning"] = "1.3.6.1.4.1.57264.1.22",
    };

    private FulcioCertificate(IReadOnlyList<string> subjects, string? issuer, IReadOnlyDictionary<string, string> extensions)
    {
        Subjects = subjects;
        Issuer = issuer;
        Extensions = extensions;
    }

    /// <summary>E-mail addresses first, then URIs, then other names: the identities the SAN asserts.</summary>
    public IReadOnlyList<string> Subjects { get; }

    /// <summary>The OIDC issuer, from the v2 (DER) extension when present, else the v1 (raw) one.</summary>
    public string? Issuer { get; }

    /// <summary>Every 1.3.6.1.4.1.57264.1.* extension by OID, decoded (raw string for .1.1–.1.6, DER UTF8String after).</summary>
    public IReadOnlyDictionary<string, string> Extensions { get; }

    public static FulcioCertificate Read(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var emails = new List<string>();
        var uris = new List<string>();
        var others = new List<string>();
        var extensions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var extension in certificate.Extensions)
        {
            var oid = extension.Oid?.Value;
            if (oid == "2.5.29.17")
            {
                ReadSubjectAlternativeNames(extension.RawData, emails, uris, others);
            }
            else if (oid is not null && oid.StartsWith("1.3.6.1.4.1.57264.1.", StringComparison.Ordinal))
            {
                extensions[oid] = DecodeFulcioExtension(oid, extension.RawData);
            }
        }

        var issuer = extensions.TryGetValue(OidcIssuerV2, out var v2) ? v2 : extensions.GetValueOrDefault(OidcIssuerV1);
        return new FulcioCertificate([.. emails, .. uris, .. others], issuer, extensions);
    }

    /// <summary>Looks up an extension by Kyverno name or by OID.</summary>
    public string? Extension(string nameOrOid)
    {
        var oid = ExtensionNames.TryGetValue(nameOrOid, out var mapped) ? mapped : nameOrOid;
        return Extensions.GetValueOrDefault(oid);
    }

    private static string DecodeFulcioExtension(string oid, byte[] raw)
    {
        // Before .1.8 Fulcio wrote the bare string as the extension value; from .1.8 on it is a DER UTF8String.
        var arc = int.Parse(oid["1.3.6.1.4.1.57264.1.".Length..], System.Globalization.CultureInfo.InvariantCulture);
        if (arc >= 8)
        {
            try
            {
                var reader = new AsnReader(raw, AsnEncodingRules.DER);
                var value = reader.ReadCharacterString(UniversalTagNumber.UTF8String);
                if (!reader.HasData)
                {
                    return value;
                }
            }
            catch (AsnContentException)
            {
            }
        }

        return Encoding.UTF8.GetString(raw);
    }

    private static void ReadSubjectAlternativeNames(byte[] raw, List<string> emails, List<string> uris, List<string> others)
    {
        try
        {
            var sequence = new AsnReader(raw, AsnEncodingRules.DER).ReadSequence();
            while (sequence.HasData)
            {
                var tag = sequence.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific)
                {
                    sequence.ReadEncodedValue();
                    continue;
                }

                switch (tag.TagValue)
                {
                    case 1:
                        emails.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 1)));
                        break;
                    case 6:
                        uris.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
                        break;
                    case 0:
                        // otherName { type-id OID, [0] EXPLICIT value }: Fulcio puts usernames here as UTF8String.
                        var otherName = sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                        otherName.ReadObjectIdentifier();
                        var explicitValue = otherName.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                        if (explicitValue.PeekTag().HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UTF8String)))
                        {
                            others.Add(explicitValue.ReadCharacterString(UniversalTagNumber.UTF8String));
                        }

                        break;
                    default:
                        sequence.ReadEncodedValue();
                        break;
                }
            }
        }
        catch (AsnContentException)
        {
            // A malformed SAN yields no identity, which no policy accepts.
        }
    }
}

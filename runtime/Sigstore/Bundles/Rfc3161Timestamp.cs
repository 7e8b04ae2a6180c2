using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>
/// An RFC 3161 time-stamp token (a CMS SignedData over a TSTInfo, RFC 5652), read with System.Formats.Asn1 and
/// verified against the timestamp authorities of a trusted root: the TSA vouches that the message imprint — the
/// hash of a bundle's signature — existed at <see cref="GenerationTime"/>. Embedded certificates are never trusted;
/// the signer must be the leaf of a trusted TSA chain, named by issuer and serial number or key identifier.
/// </summary>
public sealed class Rfc3161Timestamp
{
    private const string SignedDataOid = "1.2.840.113549.1.7.2";
    private const string TstInfoOid = "1.2.840.113549.1.9.16.1.4";
    private const string ContentTypeAttribute = "1.2.840.113549.1.9.3";
    private const string MessageDigestAttribute = "1.2.840.113549.1.9.4";
    private const string SigningCertificateAttribute = "1.2.840.113549.1.9.16.2.12";
    private const string SigningCertificateV2Attribute = "1.2.840.113549.1.9.16.2.47";
    private const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";

    private Rfc3161Timestamp(
        DateTimeOffset generationTime,
        HashAlgorithmName imprintAlgorithm,
        byte[] imprint,
        byte[] tstInfo,
        HashAlgorithmName digestAlgorithm,
        string signatureAlgorithm,
        byte[] signedAttributes,
        byte[] signature,
        byte[]? signerIssuer,
        BigInteger signerSerial,
        byte[]? signerKeyIdentifier,
        byte[]? contentTypeValue,
        byte[]? messageDigest,
        (HashAlgorithmName Algorithm, byte[] Hash)? signingCertificateHash)
    {
        GenerationTime = generationTime;
        ImprintAlgorithm = imprintAlgorithm;
        Imprint = imprint;
        _tstInfo = tstInfo;
        _digestAlgorithm = digestAlgorithm;
        _signatureAlgorithm = signatureAlgorithm;
        _signedAttributes = signedAttributes;
        _signature = signature;
        _signerIssuer = signerIssuer;
        _signerSerial = signerSerial;
        _signerKeyIdentifier = signerKeyIdentifier;
        _contentTypeValue = contentTypeValue;
        _messageDigest = messageDigest;
        _signingCertificateHash = signingCertificateHash;
    }

    private readonly byte[] _tstInfo;
    private readonly HashAlgorithmName _digestAlgorithm;
    private readonly string _signatureAlgorithm;
    private readonly byte[] _signedAttributes;
    private readonly byte[] _signature;
    private readonly byte[]? _signerIssuer;
    private readonly BigInteger _signerSerial;
    private readonly byte[]? _signerKeyIdentifier;
    private readonly byte[]? _contentTypeValue;
    private readonly byte[]? _messageDigest;
    private readonly (HashAlgorithmName Algorithm, byte[] Hash)? _signingCertificateHash;
    private IReadOnlyList<byte[]> _embeddedCertificates = [];

    /// <summary>Certificates a token may carry beyond its signer's chain are not read: a few suffice for any real TSA.</summary>
    private const int MaxEmbeddedCertificates = 8;

    /// <summary>The TSTInfo <c>genTime</c>: when the TSA saw the imprint.</summary>
    public DateTimeOffset GenerationTime { get; }

    public HashAlgorithmName ImprintAlgorithm { get; }

    /// <summary>The hash of the time-stamped data (for Sigstore, of the signature bytes).</summary>
    public byte[] Imprint { get; }

    /// <summary>Parses a DER TimeStampResp (status, then token) or a bare TimeStampToken (ContentInfo).</summary>
    public static bool TryParse(ReadOnlyMemory<byte> der, [NotNullWhen(true)] out Rfc3161Timestamp? timestamp, [NotNullWhen(false)] out string? error)
    {
        timestamp = null;
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.BER).ReadSequence();
            AsnReader contentInfo;
            if (outer.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
                var status = outer.ReadSequence();
                var code = (int)status.ReadInteger();
                if (code is not (0 or 1))
                {
                    error = $"the timestamp response has status {code}, not granted";
                    return false;
                }

                if (!outer.HasData)
                {
                    error = "the timestamp response carries no token";
                    return false;
                }

                contentInfo = outer.ReadSequence();
            }
            else
            {
                contentInfo = outer;
            }

            if (contentInfo.ReadObjectIdentifier() != SignedDataOid)
            {
                error = "the timestamp token is not a CMS SignedData";
                return false;
            }

            var signedData = contentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)).ReadSequence();
            signedData.ReadInteger(); // version
            signedData.ReadSetOf(); // digestAlgorithms
            var encapsulated = signedData.ReadSequence();
            if (encapsulated.ReadObjectIdentifier() != TstInfoOid)
            {
                error = "the timestamp token does not carry a TSTInfo";
                return false;
            }

            var tstInfo = encapsulated.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)).ReadOctetString();
            // certificates: never trusted by themselves. Kept so that a TSA configured by its CA chain alone
            // (ctlog.tsaCertChain) can name the leaf the token carries, which must then chain to that CA.
            var embedded = new List<byte[]>();
            if (signedData.HasData && signedData.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                var certificates = signedData.ReadSetOf(true, new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
                while (certificates.HasData)
                {
                    var isCertificate = certificates.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence);
                    var encoded = certificates.ReadEncodedValue();
                    if (isCertificate && embedded.Count < MaxEmbeddedCertificates)
                    {
                        embedded.Add(encoded.ToArray());
                    }
                }
            }

            if (signedData.HasData && signedData.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
            {
                signedData.ReadEncodedValue(); // crls
            }

            var signerInfos = signedData.ReadSetOf();
            var signerInfo = signerInfos.ReadSequence();
            if (signerInfos.HasData)
            {
                error = "the timestamp token has more than one signer";
                return false;
            }

            signerInfo.ReadInteger(); // version
            byte[]? issuer = null;
            var serial = BigInteger.Zero;
            byte[]? keyIdentifier = null;
            if (signerInfo.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                var issuerAndSerial = signerInfo.ReadSequence();
                issuer = issuerAndSerial.ReadEncodedValue().ToArray();
                serial = issuerAndSerial.ReadInteger();
            }
            else
            {
                keyIdentifier = signerInfo.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0));
            }

            var digestAlgorithm = HashFromOid(ReadAlgorithm(signerInfo));
            var attributesTag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
            if (!signerInfo.HasData || !signerInfo.PeekTag().HasSameClassAndValue(attributesTag))
            {
                error = "the timestamp token has no signed attributes";
                return false;
            }

            // The signature covers the DER of the attributes as a SET OF (universal tag 17), not as [0].
            var attributesEncoded = signerInfo.PeekEncodedValue().ToArray();
            attributesEncoded[0] = 0x31;
            byte[]? contentType = null;
            byte[]? messageDigest = null;
            (HashAlgorithmName, byte[])? signingCertificate = null;
            var attributes = signerInfo.ReadSetOf(attributesTag);
            while (attributes.HasData)
            {
                var attribute = attributes.ReadSequence();
                var type = attribute.ReadObjectIdentifier();
                var values = attribute.ReadSetOf();
                switch (type)
                {
                    case ContentTypeAttribute:
                        contentType = values.ReadEncodedValue().ToArray();
                        break;
                    case MessageDigestAttribute:
                        messageDigest = values.ReadOctetString();
                        break;
                    case SigningCertificateV2Attribute:
                        signingCertificate = ReadEssCertId(values, v2: true);
                        break;
                    case SigningCertificateAttribute:
                        signingCertificate ??= ReadEssCertId(values, v2: false);
                        break;
                }
            }

            var signatureAlgorithm = ReadAlgorithm(signerInfo);
            var signature = signerInfo.ReadOctetString();

            // TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, ... }
            var info = new AsnReader(tstInfo, AsnEncodingRules.DER).ReadSequence();
            info.ReadInteger();
            info.ReadObjectIdentifier();
            var imprint = info.ReadSequence();
            var imprintAlgorithm = HashFromOid(ReadAlgorithm(imprint));
            var imprintHash = imprint.ReadOctetString();
            info.ReadInteger();
            var generationTime = info.ReadGeneralizedTime();

            timestamp = new Rfc3161Timestamp(
                generationTime, imprintAlgorithm, imprintHash, tstInfo, digestAlgorithm, signatureAlgorithm, attributesEncoded, signature,
                issuer, serial, keyIdentifier, contentType, messageDigest, signingCertificate)
            {
                _embeddedCertificates = embedded,
            };
            error = null;
            return true;
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException or OverflowException)
        {
            error = "the timestamp is malformed: " + e.Message;
            return false;
        }
    }

    /// <summary>True when the token's signer is the leaf certificate of one of <paramref name="authorities"/>.</summary>
    public bool IsSignedByOneOf(IReadOnlyList<CertificateAuthority> authorities)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        return authorities.Any(a => Signer(a) is not null);
    }

    /// <summary>
    /// The certificate that signed this token on behalf of <paramref name="authority"/>: the authority's leaf, or, for a
    /// chain that may stop at the CA, one of its certificates or a non-self-issued certificate the token carries that
    /// the signer identifier names. Null when the authority did not sign it.
    /// </summary>
    private X509Certificate2? Signer(CertificateAuthority authority)
    {
        if (authority.Chain.Count > 0 && Names(authority.Chain[0]))
        {
            return authority.Chain[0];
        }

        if (!authority.SignerMayBeEmbedded)
        {
            return null;
        }

        if (authority.Chain.FirstOrDefault(Names) is { } configured)
        {
            return configured;
        }

        foreach (var der in _embeddedCertificates)
        {
            X509Certificate2 certificate;
            try
            {
                certificate = X509CertificateLoader.LoadCertificate(der);
            }
            catch (CryptographicException)
            {
                continue;
            }

            // A self-issued certificate from the token would be its own root: only the configured chain holds roots.
            if (!IsSelfSigned(certificate) && Names(certificate))
            {
                return certificate;
            }
        }

        return null;
    }

    /// <summary>
    /// Null when a timestamp authority of <paramref name="authorities"/> signed this token over <paramref name="data"/>:
    /// the imprint is the hash of the data, the signed attributes bind the TSTInfo, the signer is the authority's leaf
    /// certificate, its chain was valid (with the time-stamping EKU) at the generation time, and the generation time lies
    /// inside the authority's validity in the trusted root (both ends inclusive).
    /// </summary>
    public string? Verify(ReadOnlySpan<byte> data, IReadOnlyList<CertificateAuthority> authorities)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        if (ImprintAlgorithm == HashAlgorithmName.SHA1 || _digestAlgorithm == HashAlgorithmName.SHA1)
        {
            return "the timestamp uses SHA-1, which is not accepted";
        }

        if (!CryptographicOperations.FixedTimeEquals(SignatureHashes.Compute(ImprintAlgorithm, data), Imprint))
        {
            return "the timestamp is not over this signature";
        }

        if (_contentTypeValue is null || !_contentTypeValue.AsSpan().SequenceEqual(EncodeOid(TstInfoOid)))
        {
            return "the timestamp's signed content type is not TSTInfo";
        }

        if (_messageDigest is null || !CryptographicOperations.FixedTimeEquals(SignatureHashes.Compute(_digestAlgorithm, _tstInfo), _messageDigest))
        {
            return "the timestamp's signed message digest does not match its TSTInfo";
        }

        string? last = null;
        var named = false;
        foreach (var authority in authorities)
        {
            if (Signer(authority) is not { } signer)
            {
                continue;
            }

            named = true;
            last = VerifyWith(authority, signer);
            if (last is null)
            {
                return null;
            }
        }

        return named ? last : "the timestamp was not signed by a trusted timestamp authority";
    }

    private string? VerifyWith(CertificateAuthority authority, X509Certificate2 leaf)
    {
        if ((authority.ValidFrom is { } from && GenerationTime < from) || (authority.ValidUntil is { } until && GenerationTime > until))
        {
            return $"the timestamp's time {GenerationTime:O} is outside the timestamp authority's validity in the trusted root";
        }

        if (_signingCertificateHash is { } essCertId && !CryptographicOperations.FixedTimeEquals(SignatureHashes.Compute(essCertId.Algorithm, leaf.RawData), essCertId.Hash))
        {
            return "the timestamp's signing-certificate attribute names another certificate";
        }

        if (!SignatureVerifies(leaf))
        {
            return "the timestamp signature does not verify with the timestamp authority's certificate";
        }

        var roots = authority.Chain.Where(IsSelfSigned).ToList();
        if (roots.Count == 0)
        {
            roots.Add(authority.Chain[^1]);
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = GenerationTime.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(authority.Chain.Where(c => !ReferenceEquals(c, leaf) && !roots.Contains(c)).ToArray());
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(TimeStampingEku));
        if (!chain.Build(leaf))
        {
            // StatusInformation is a resource key in trimmed NativeAOT builds: describe the flags here.
            var problems = chain.ChainStatus.Select(s => Describe(s.Status)).Distinct(StringComparer.Ordinal);
            return $"the timestamp authority's certificate chain was not valid at {GenerationTime:O}: " + string.Join("; ", problems);
        }

        return null;
    }

    private static string Describe(X509ChainStatusFlags status) => status switch
    {
        X509ChainStatusFlags.NotTimeValid => "a certificate had expired or was not yet valid",
        X509ChainStatusFlags.NotSignatureValid => "a certificate signature does not verify",
        X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain => "the chain does not end at the authority's root",
        X509ChainStatusFlags.NotValidForUsage or X509ChainStatusFlags.InvalidPolicyConstraints or X509ChainStatusFlags.NoIssuanceChainPolicy => "the signing certificate is not valid for time stamping",
        X509ChainStatusFlags.InvalidBasicConstraints => "an issuer is not a certification authority",
        _ => "chain status " + status,
    };

    /// <summary>True when the token's signer identifier names <paramref name="certificate"/>.</summary>
    private bool Names(X509Certificate2 certificate)
    {
        if (_signerKeyIdentifier is not null)
        {
            var ski = certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault();
            return ski is not null && ski.SubjectKeyIdentifierBytes.Span.SequenceEqual(_signerKeyIdentifier);
        }

        return _signerIssuer is not null
            && certificate.IssuerName.RawData.AsSpan().SequenceEqual(_signerIssuer)
            && new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true) == _signerSerial;
    }

    private bool SignatureVerifies(X509Certificate2 certificate)
    {
        // ecdsa-with-SHA*, sha*WithRSAEncryption name their hash; bare rsaEncryption / id-ecPublicKey use the digest algorithm.
        var hash = _signatureAlgorithm switch
        {
            "1.2.840.10045.4.3.2" or "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
            "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
            "1.2.840.113549.1.1.1" or "1.2.840.10045.2.1" or "1.3.101.112" => _digestAlgorithm,
            _ => default,
        };
        if (hash == default)
        {
            return false;
        }

        try
        {
            var key = VerificationKey.FromSubjectPublicKeyInfo(certificate.PublicKey.ExportSubjectPublicKeyInfo(), hash);
            var isRsaAlgorithm = _signatureAlgorithm.StartsWith("1.2.840.113549.1.1.", StringComparison.Ordinal);
            var isEdAlgorithm = _signatureAlgorithm == "1.3.101.112";
            var matches = key.Algorithm switch
            {
                KeyAlgorithm.Rsa => isRsaAlgorithm,
                KeyAlgorithm.Ed25519 => isEdAlgorithm,
                _ => !isRsaAlgorithm && !isEdAlgorithm,
            };
            return matches && key.Verify(_signedAttributes, _signature);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static (HashAlgorithmName, byte[]) ReadEssCertId(AsnReader values, bool v2)
    {
        // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies OPTIONAL }
        var certs = values.ReadSequence().ReadSequence();
        var first = certs.ReadSequence();
        var algorithm = v2 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1;
        if (v2 && first.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            algorithm = HashFromOid(ReadAlgorithm(first));
        }

        return (algorithm, first.ReadOctetString());
    }

    private static string ReadAlgorithm(AsnReader reader)
    {
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        return oid;
    }

    private static HashAlgorithmName HashFromOid(string oid) => oid switch
    {
        "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
        "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
        "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
        "1.3.14.3.2.26" => HashAlgorithmName.SHA1,
        _ => throw new CryptographicException($"unsupported hash algorithm {oid}"),
    };

    private static byte[] EncodeOid(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(oid);
        return writer.Encode();
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}

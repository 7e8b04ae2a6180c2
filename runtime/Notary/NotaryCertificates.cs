using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Notary;

/// <summary>
/// The Notary Project's certificate requirements (signature specification, "Certificate Requirements") for the chain a
/// signature carries in its <c>x5c</c> header: ordered leaf to root, each certificate issued (name and signature) by the
/// next, the last one self-signed, nothing but the root self-signed — or a single self-signed, self-issued signing
/// certificate —, CA constraints and key usages as the specification lists them, and a signing key of a supported
/// size. Validity in time is judged separately (see <see cref="NotaryVerifier"/>), as Notation does.
/// </summary>
internal static class NotaryCertificates
{
    private const string KeyUsageOid = "2.5.29.15";
    private const string AnyExtendedKeyUsage = "2.5.29.37.0";

    // Extended key usages a code-signing certificate must not carry (TLS server and client, e-mail, OCSP, time stamping).
    private static readonly Dictionary<string, string> s_excludedUsages = new(StringComparer.Ordinal)
    {
        [AnyExtendedKeyUsage] = "Any",
        ["1.3.6.1.5.5.7.3.1"] = "ServerAuth",
        ["1.3.6.1.5.5.7.3.2"] = "ClientAuth",
        ["1.3.6.1.5.5.7.3.4"] = "EmailProtection",
        ["1.3.6.1.5.5.7.3.9"] = "OCSPSigning",
        ["1.3.6.1.5.5.7.3.8"] = "TimeStamping",
    };

    /// <summary>Null when the chain meets the requirements, otherwise why not.</summary>
    public static string? ValidateChain(IReadOnlyList<X509Certificate2> chain)
    {
        if (chain.Count == 0)
        {
            return "the certificate chain is empty";
        }

        if (chain.Count == 1)
        {
            var only = chain[0];
            if (!IsIssuedBy(only, only))
            {
                return $"the self-signed certificate {Name(only)} is not validly self-signed and self-issued";
            }

            return ValidateLeaf(only);
        }

        for (var i = 0; i < chain.Count; i++)
        {
            var certificate = chain[i];
            if (i == chain.Count - 1)
            {
                if (!IsIssuedBy(certificate, certificate))
                {
                    return $"the root certificate {Name(certificate)} is not self-signed; the chain must end with a self-signed root";
                }
            }
            else
            {
                if (IsIssuedBy(certificate, certificate))
                {
                    return $"the {(i == 0 ? "leaf" : "intermediate")} certificate {Name(certificate)} is self-signed; only the root may be";
                }

                if (!IsIssuedBy(certificate, chain[i + 1]))
                {
                    return $"the certificate {Name(certificate)} is not issued by {Name(chain[i + 1])}";
                }
            }

            var error = i == 0 ? ValidateLeaf(certificate) : ValidateAuthority(certificate, i - 1);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    /// <summary>The JWS <c>alg</c> a signing key must be used with: the key's type and size decide it.</summary>
    public static string? SigningAlgorithm(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPublicKey();
        if (rsa is not null)
        {
            return rsa.KeySize switch { 2048 => "PS256", 3072 => "PS384", 4096 => "PS512", _ => null };
        }

        using var ecdsa = certificate.GetECDsaPublicKey();
        return ecdsa?.KeySize switch { 256 => "ES256", 384 => "ES384", 521 => "ES512", _ => null };
    }

    public static string Name(X509Certificate2 certificate) => $"'{certificate.Subject}'";

    private static string? ValidateLeaf(X509Certificate2 certificate)
    {
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true })
        {
            return $"the signing certificate {Name(certificate)} is a CA (basic constraints ca: true)";
        }

        if (KeyUsage(certificate, out var usageError) is not { } usage)
        {
            return usageError;
        }

        if (!usage.HasFlag(X509KeyUsageFlags.DigitalSignature))
        {
            return $"the signing certificate {Name(certificate)} lacks the Digital Signature key usage";
        }

        const X509KeyUsageFlags forbidden = X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment | X509KeyUsageFlags.KeyAgreement
            | X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.EncipherOnly | X509KeyUsageFlags.DecipherOnly;
        if ((usage & forbidden) != 0)
        {
            return $"the signing certificate {Name(certificate)} has key usages besides Digital Signature ({usage & forbidden})";
        }

        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } extended)
        {
            foreach (var oid in extended.EnhancedKeyUsages)
            {
                if (oid.Value is { } value && s_excludedUsages.TryGetValue(value, out var name))
                {
                    return $"the signing certificate {Name(certificate)} has the extended key usage {name}, which code signing excludes";
                }
            }
        }

        return SigningAlgorithm(certificate) is null
            ? $"the signing certificate {Name(certificate)} has a key the Notary Project does not sign with (RSA 2048/3072/4096 or ECDSA P-256/P-384/P-521)"
            : null;
    }

    private static string? ValidateAuthority(X509Certificate2 certificate, int expectedPathLength)
    {
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true } constraints)
        {
            return $"the CA certificate {Name(certificate)} lacks basic constraints with ca: true";
        }

        if (constraints.HasPathLengthConstraint && constraints.PathLengthConstraint < expectedPathLength)
        {
            return $"the CA certificate {Name(certificate)} allows a path length of {constraints.PathLengthConstraint}, and the chain needs {expectedPathLength}";
        }

        if (KeyUsage(certificate, out var usageError) is not { } usage)
        {
            return usageError;
        }

        return usage.HasFlag(X509KeyUsageFlags.KeyCertSign) ? null : $"the CA certificate {Name(certificate)} lacks the Certificate Sign key usage";
    }

    private static X509KeyUsageFlags? KeyUsage(X509Certificate2 certificate, out string? error)
    {
        var extension = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (extension is null)
        {
            error = $"the certificate {Name(certificate)} has no key usage extension";
            return null;
        }

        if (!extension.Critical)
        {
            error = $"the key usage extension of {Name(certificate)} is not critical";
            return null;
        }

        error = null;
        return extension.KeyUsages;
    }

    /// <summary>
    /// Whether <paramref name="issuer"/> issued <paramref name="subject"/>: the names match byte for byte and the
    /// certificate's signature verifies under the issuer's key (SHA-1 signatures are refused, as Go refuses them).
    /// </summary>
    internal static bool IsIssuedBy(X509Certificate2 subject, X509Certificate2 issuer)
    {
        return subject.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData) && IsSignedBy(subject.RawData, issuer);
    }

    /// <summary>
    /// Whether a signed DER structure laid out as a certificate is — to-be-signed part, algorithm, signature bit string:
    /// a certificate, a CRL, an OCSP basic response — carries a valid signature by <paramref name="issuer"/>'s key,
    /// with the algorithms a certificate may use here (no SHA-1, as Go refuses it).
    /// </summary>
    internal static bool IsSignedBy(ReadOnlyMemory<byte> signed, X509Certificate2 issuer)
    {
        try
        {
            var reader = new AsnReader(signed, AsnEncodingRules.DER);
            var outer = reader.ReadSequence();
            var tbs = outer.ReadEncodedValue();
            var algorithm = outer.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            var parameters = algorithm.HasData ? algorithm.ReadEncodedValue() : default;
            var signature = outer.ReadBitString(out var unused);
            if (unused != 0)
            {
                return false;
            }

            return oid switch
            {
                "1.2.840.113549.1.1.11" => VerifyRsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.113549.1.1.12" => VerifyRsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.113549.1.1.13" => VerifyRsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA512),
                "1.2.840.113549.1.1.10" => PssHash(parameters) is { } hash && VerifyPss(issuer, tbs.Span, signature, hash),
                "1.2.840.10045.4.3.2" => VerifyEcdsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.10045.4.3.3" => VerifyEcdsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.10045.4.3.4" => VerifyEcdsa(issuer, tbs.Span, signature, HashAlgorithmName.SHA512),
                _ => false,
            };
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            return false;
        }
    }

    private static bool VerifyRsa(X509Certificate2 issuer, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash)
    {
        using var rsa = issuer.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1);
    }

    private static bool VerifyPss(X509Certificate2 issuer, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash)
    {
        using var rsa = issuer.GetRSAPublicKey();
        return rsa is not null && RsaPss.Verify(rsa, SignatureHashes.Compute(hash, data), signature, hash);
    }

    private static bool VerifyEcdsa(X509Certificate2 issuer, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash)
    {
        using var ecdsa = issuer.GetECDsaPublicKey();
        return ecdsa is not null && ecdsa.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    // RSASSA-PSS-params (RFC 4055): the hash is the first, explicitly tagged field; SHA-1 (its default) is refused.
    private static HashAlgorithmName? PssHash(ReadOnlyMemory<byte> parameters)
    {
        if (parameters.IsEmpty)
        {
            return null;
        }

        var sequence = new AsnReader(parameters, AsnEncodingRules.DER).ReadSequence();
        if (!sequence.HasData || !sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            return null;
        }

        var hash = sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence().ReadObjectIdentifier();
        return hash switch
        {
            "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
            "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
            "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
            _ => null,
        };
    }
}

using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// Remembers, per process, the issuer paths that <see cref="X509Chain"/> has already validated up to a trusted root,
/// so that the next leaf from the same issuer costs one signature verification instead of a whole chain build.
/// </summary>
/// <remarks>
/// Keyless signing certificates are all different, but they come from a handful of Fulcio intermediates that never
/// change. A chain build verifies every signature in the path, twice on Linux (two <c>X509_verify_cert</c> runs, the
/// root's own signature included): six P-384 verifications for a Fulcio chain, ~6 ms on OpenSSL 3.0 (README,
/// "Cold verification"). What depends on the leaf — its signature by the issuer, its names, its usage, its time — is
/// checked again for every leaf here; what does not — the issuer's path to the root — is taken from an earlier
/// successful build, with the time window in which that path is valid. Anything this class does not fully
/// understand (name or policy constraints in the path, an unknown critical extension on the leaf, an unusual
/// signature algorithm) is left to the full build, so the fast path can only ever agree with it
/// (<c>IssuerPathCacheTests</c> compares both on good and broken chains).
/// </remarks>
internal static class IssuerPathCache
{
    private const int MaxEntries = 64;

    // Extensions whose meaning depends on the leaf below the path: a path containing them is never remembered.
    private static readonly HashSet<string> s_pathDependentExtensions =
    [
        "2.5.29.30", // name constraints
        "2.5.29.33", // policy mappings
        "2.5.29.36", // policy constraints
        "2.5.29.54", // inhibit anyPolicy
    ];

    // Critical extensions a leaf may carry on the fast path; X509Chain understands more, the full build handles those.
    private static readonly HashSet<string> s_understoodLeafCritical =
    [
        "2.5.29.15", // key usage
        "2.5.29.17", // subject alternative name (critical when the subject is empty, as in Fulcio certificates)
        "2.5.29.19", // basic constraints
        "2.5.29.37", // extended key usage
    ];

    private static readonly Lock s_gate = new();
    private static readonly Dictionary<string, List<IssuerPath>> s_paths = new(StringComparer.Ordinal);
    private static int s_count;
    private static long s_hits;

    /// <summary>How many leaves were accepted without a chain build (for tests and benchmarks).</summary>
    public static long Hits => Interlocked.Read(ref s_hits);

    /// <summary>
    /// True when <paramref name="leaf"/> is signed by an issuer whose path to one of <paramref name="roots"/> was
    /// validated before, that path is valid at the leaf's <c>NotBefore</c>, and the leaf itself passes the checks a
    /// chain build would make of it. False means "build the chain", never "invalid".
    /// </summary>
    public static bool TryAccept(X509Certificate2 leaf, IReadOnlyList<X509Certificate2> roots, IReadOnlyList<X509Certificate2> intermediates, bool requireCodeSigning)
    {
        if (!LeafIsPlain(leaf, requireCodeSigning))
        {
            return false;
        }

        List<IssuerPath>? candidates;
        lock (s_gate)
        {
            if (!s_paths.TryGetValue(Convert.ToHexString(leaf.IssuerName.RawData), out candidates))
            {
                return false;
            }

            candidates = [.. candidates];
        }

        DateTimeOffset at = leaf.NotBefore.ToUniversalTime();
        foreach (var path in candidates)
        {
            if (path.RequireCodeSigning != requireCodeSigning || at < path.ValidFrom || at > path.ValidUntil)
            {
                continue;
            }

            // The path must be made only of certificates this caller trusts or was given: the same policy with fewer
            // intermediates could not have built it.
            if (!Contains(roots, path.Certificates[^1]) || !path.Certificates.Take(path.Certificates.Length - 1).All(c => Contains(intermediates, c) || Contains(roots, c)))
            {
                continue;
            }

            if (IsSignedBy(leaf, path.Issuer))
            {
                Interlocked.Increment(ref s_hits);
                return true;
            }
        }

        return false;
    }

    /// <summary>Remembers the issuer path of a chain that <see cref="X509Chain.Build"/> accepted for a leaf.</summary>
    public static void Remember(X509Chain chain, bool requireCodeSigning)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var elements = chain.ChainElements;
        if (elements.Count < 2 || chain.ChainStatus.Any(status => status.Status != X509ChainStatusFlags.NoError))
        {
            return;
        }

        var path = new byte[elements.Count - 1][];
        var from = DateTimeOffset.MinValue;
        var until = DateTimeOffset.MaxValue;
        for (var i = 1; i < elements.Count; i++)
        {
            var certificate = elements[i].Certificate;
            foreach (var extension in certificate.Extensions)
            {
                if (s_pathDependentExtensions.Contains(extension.Oid?.Value ?? string.Empty))
                {
                    return;
                }
            }

            path[i - 1] = certificate.RawData;
            from = Max(from, certificate.NotBefore.ToUniversalTime());
            until = Min(until, certificate.NotAfter.ToUniversalTime());
        }

        var issuer = elements[1].Certificate;
        if (!CanIssue(issuer))
        {
            return;
        }

        var entry = new IssuerPath(X509CertificateLoader.LoadCertificate(issuer.RawData), path, from, until, requireCodeSigning);
        var key = Convert.ToHexString(issuer.SubjectName.RawData);
        lock (s_gate)
        {
            if (s_count >= MaxEntries)
            {
                return;
            }

            if (!s_paths.TryGetValue(key, out var list))
            {
                s_paths[key] = list = [];
            }

            if (list.Any(p => p.RequireCodeSigning == requireCodeSigning && p.SamePath(path)))
            {
                return;
            }

            list.Add(entry);
            s_count++;
        }
    }

    /// <summary>Forgets every remembered path (tests).</summary>
    internal static void Clear()
    {
        lock (s_gate)
        {
            s_paths.Clear();
            s_count = 0;
        }
    }

    private static bool LeafIsPlain(X509Certificate2 leaf, bool requireCodeSigning)
    {
        if (leaf.NotAfter < leaf.NotBefore || leaf.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData))
        {
            return false;
        }

        var codeSigning = false;
        foreach (var extension in leaf.Extensions)
        {
            var oid = extension.Oid?.Value ?? string.Empty;
            if (extension.Critical && !s_understoodLeafCritical.Contains(oid))
            {
                return false;
            }

            if (extension is X509EnhancedKeyUsageExtension usage)
            {
                foreach (var purpose in usage.EnhancedKeyUsages)
                {
                    codeSigning |= purpose.Value == SignerPolicy.CodeSigningEku;
                }
            }
        }

        // A leaf without an EKU extension is valid for every usage in X509Chain; such leaves are rare enough to
        // leave to the full build rather than reproduce that rule here.
        return !requireCodeSigning || codeSigning;
    }

    private static bool CanIssue(X509Certificate2 issuer)
    {
        var constraints = issuer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        var usage = issuer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        return constraints is { CertificateAuthority: true }
            && (usage is null || usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign));
    }

    /// <summary>Verifies the leaf's signature with the issuer's key, for the signature algorithms Fulcio and common CAs use.</summary>
    private static bool IsSignedBy(X509Certificate2 leaf, X509Certificate2 issuer)
    {
        if (!leaf.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
        {
            return false;
        }

        // OpenSSL only takes a certificate as the issuer when the leaf's authority key identifier names its key.
        if (leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().FirstOrDefault()?.KeyIdentifier is { } authorityKey
            && issuer.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault() is { } subjectKey
            && !authorityKey.Span.SequenceEqual(subjectKey.SubjectKeyIdentifierBytes.Span))
        {
            return false;
        }

        ReadOnlyMemory<byte> tbs;
        ReadOnlyMemory<byte> innerAlgorithm;
        ReadOnlyMemory<byte> outerAlgorithm;
        string algorithm;
        byte[] signature;
        try
        {
            var certificate = new AsnReader(leaf.RawDataMemory, AsnEncodingRules.DER).ReadSequence();
            tbs = certificate.ReadEncodedValue();
            outerAlgorithm = certificate.PeekEncodedValue();
            var algorithmReader = certificate.ReadSequence();
            algorithm = algorithmReader.ReadObjectIdentifier();
            signature = certificate.ReadBitString(out var unused);
            if (unused != 0 || certificate.HasData)
            {
                return false;
            }

            var tbsReader = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
            if (tbsReader.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                tbsReader.ReadEncodedValue(); // version
            }

            tbsReader.ReadEncodedValue(); // serial number
            innerAlgorithm = tbsReader.ReadEncodedValue();
        }
        catch (AsnContentException)
        {
            return false;
        }

        // The signed algorithm identifier must be the one the signature claims (RFC 5280 4.1.1.2).
        if (!innerAlgorithm.Span.SequenceEqual(outerAlgorithm.Span))
        {
            return false;
        }

        var data = tbs.Span;
        try
        {
            switch (algorithm)
            {
                case "1.2.840.10045.4.3.2" or "1.2.840.10045.4.3.3" or "1.2.840.10045.4.3.4":
                {
                    using var key = issuer.GetECDsaPublicKey();
                    return key is not null && key.VerifyData(data, signature, EcdsaHash(algorithm), DSASignatureFormat.Rfc3279DerSequence);
                }

                case "1.2.840.113549.1.1.11" or "1.2.840.113549.1.1.12" or "1.2.840.113549.1.1.13":
                {
                    using var key = issuer.GetRSAPublicKey();
                    return key is not null && key.VerifyData(data, signature, RsaHash(algorithm), RSASignaturePadding.Pkcs1);
                }

                default:
                    return false;
            }
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static HashAlgorithmName EcdsaHash(string oid) => oid switch
    {
        "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
        "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    private static HashAlgorithmName RsaHash(string oid) => oid switch
    {
        "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
        "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    private static bool Contains(IReadOnlyList<X509Certificate2> certificates, byte[] der)
    {
        foreach (var certificate in certificates)
        {
            if (certificate.RawDataMemory.Span.SequenceEqual(der))
            {
                return true;
            }
        }

        return false;
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary>An issuer and its validated path to a root (issuer first, root last, as DER), valid within a window.</summary>
    private sealed record IssuerPath(X509Certificate2 Issuer, byte[][] Certificates, DateTimeOffset ValidFrom, DateTimeOffset ValidUntil, bool RequireCodeSigning)
    {
        public bool SamePath(byte[][] other) =>
            other.Length == Certificates.Length && other.Zip(Certificates).All(pair => pair.First.AsSpan().SequenceEqual(pair.Second));
    }
}

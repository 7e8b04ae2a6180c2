using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// The remembered issuer paths may only ever say what a full <see cref="X509Chain"/> build would say: every leaf the
/// fast path accepts must also build, and leaves that would not build must not be accepted. Each case is judged both
/// ways; every chain uses its own names so that other tests filling the process-wide cache cannot interfere.
/// </summary>
public sealed class IssuerPathCacheTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private sealed class Pki
    {
        public required X509Certificate2 Root { get; init; }

        public required X509Certificate2 Intermediate { get; init; }

        public required AsymmetricAlgorithm IntermediateKey { get; init; }

        public required string Name { get; init; }
    }

    private static Pki NewPki(bool rsa = false, Action<CertificateRequest>? intermediateExtensions = null, DateTimeOffset? intermediateUntil = null)
    {
        var name = Guid.NewGuid().ToString("N");
        AsymmetricAlgorithm rootKey = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = Request($"CN=root {name}", rootKey, HashAlgorithmName.SHA384);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        var root = rootRequest.CreateSelfSigned(Now.AddYears(-1), Now.AddYears(5));

        AsymmetricAlgorithm intermediateKey = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var intermediateRequest = Request($"CN=intermediate {name}", intermediateKey, HashAlgorithmName.SHA384);
        if (intermediateExtensions is null)
        {
            intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            intermediateRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(SignerPolicy.CodeSigningEku)], false));
        }
        else
        {
            intermediateExtensions(intermediateRequest);
        }

        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        var intermediate = intermediateRequest.Create(root, Now.AddYears(-1), intermediateUntil ?? Now.AddYears(4), Serial());
        return new Pki { Root = Public(root), Intermediate = Public(intermediate), IntermediateKey = intermediateKey, Name = name };
    }

    private static CertificateRequest Request(string subject, AsymmetricAlgorithm key, HashAlgorithmName hash) => key switch
    {
        ECDsa ec => new CertificateRequest(subject, ec, hash),
        RSA rsa => new CertificateRequest(subject, rsa, hash, RSASignaturePadding.Pkcs1),
        _ => throw new ArgumentException("key type", nameof(key)),
    };

    /// <summary>nameConstraints with one permitted subtree, an rfc822Name (RFC 5280 4.2.1.10).</summary>
    private static byte[] PermitOnlyDomain(string domain)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, domain, new Asn1Tag(TagClass.ContextSpecific, 1));
        }

        return writer.Encode();
    }

    private static byte[] Serial() => RandomNumberGenerator.GetBytes(8);

    private static X509Certificate2 Public(X509Certificate2 certificate) => X509CertificateLoader.LoadCertificate(certificate.RawData);

    /// <summary>A Fulcio-shaped leaf: empty subject, critical SAN, code-signing EKU, ten minutes of validity.</summary>
    private static X509Certificate2 Leaf(
        X509Certificate2 issuer,
        AsymmetricAlgorithm issuerKey,
        DateTimeOffset? notBefore = null,
        string eku = SignerPolicy.CodeSigningEku,
        X509Extension? extra = null,
        bool authorityKeyId = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(eku)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddEmailAddress("signer@example.com");
        request.CertificateExtensions.Add(san.Build(true));
        if (authorityKeyId)
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        }

        if (extra is not null)
        {
            request.CertificateExtensions.Add(extra);
        }

        var from = notBefore ?? Now.AddMinutes(-1);
        var generator = issuerKey switch
        {
            ECDsa ec => X509SignatureGenerator.CreateForECDsa(ec),
            RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            _ => throw new ArgumentException("key type", nameof(issuerKey)),
        };
        return request.Create(issuer.SubjectName, generator, from, from.AddMinutes(10), Serial());
    }

    private static bool FullBuild(X509Certificate2 leaf, IEnumerable<X509Certificate2> roots, IEnumerable<X509Certificate2> intermediates, out X509Chain chain)
    {
        chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = leaf.NotBefore;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(SignerPolicy.CodeSigningEku));
        return chain.Build(leaf);
    }

    /// <summary>Builds a good leaf fully and remembers its path, as <c>SignerPolicy.BuildChain</c> does.</summary>
    private static void Prime(Pki pki)
    {
        var first = Leaf(pki.Intermediate, pki.IntermediateKey);
        Assert.True(FullBuild(first, [pki.Root], [pki.Intermediate], out var chain));
        using (chain)
        {
            IssuerPathCache.Remember(chain, requireCodeSigning: true);
        }
    }

    private static void AssertBothAccept(X509Certificate2 leaf, Pki pki)
    {
        Assert.True(FullBuild(leaf, [pki.Root], [pki.Intermediate], out var chain));
        chain.Dispose();
        var before = IssuerPathCache.Hits;
        Assert.True(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
        Assert.True(IssuerPathCache.Hits > before);
    }

    private static void AssertBothRefuse(X509Certificate2 leaf, Pki pki)
    {
        Assert.False(FullBuild(leaf, [pki.Root], [pki.Intermediate], out var chain));
        chain.Dispose();
        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
    }

    [Fact]
    public void An_unseen_issuer_is_left_to_the_full_build()
    {
        var pki = NewPki();
        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey);

        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
    }

    [Fact]
    public void Further_leaves_of_a_remembered_issuer_are_accepted_by_one_signature_check()
    {
        var pki = NewPki();
        Prime(pki);

        AssertBothAccept(Leaf(pki.Intermediate, pki.IntermediateKey), pki);
        AssertBothAccept(Leaf(pki.Intermediate, pki.IntermediateKey, Now.AddMonths(-3)), pki);
    }

    [Fact]
    public void Rsa_paths_are_remembered_too()
    {
        var pki = NewPki(rsa: true);
        Prime(pki);

        AssertBothAccept(Leaf(pki.Intermediate, pki.IntermediateKey), pki);
    }

    [Fact]
    public void A_leaf_from_a_key_that_only_borrows_the_issuers_name_is_refused()
    {
        var pki = NewPki();
        Prime(pki);
        using var impostor = ECDsa.Create(ECCurve.NamedCurves.nistP384);

        AssertBothRefuse(Leaf(pki.Intermediate, impostor, authorityKeyId: false), pki);
    }

    [Fact]
    public void A_leaf_with_a_damaged_signature_is_refused()
    {
        var pki = NewPki();
        Prime(pki);
        var raw = Leaf(pki.Intermediate, pki.IntermediateKey).RawData;
        raw[^3] ^= 0x40; // inside the ECDSA signature's s value
        var damaged = X509CertificateLoader.LoadCertificate(raw);

        AssertBothRefuse(damaged, pki);
    }

    [Fact]
    public void A_leaf_without_code_signing_is_refused()
    {
        var pki = NewPki();
        Prime(pki);

        AssertBothRefuse(Leaf(pki.Intermediate, pki.IntermediateKey, eku: "1.3.6.1.5.5.7.3.1"), pki);
    }

    [Fact]
    public void A_leaf_issued_outside_the_paths_validity_is_refused()
    {
        var pki = NewPki(intermediateUntil: Now.AddDays(30));
        Prime(pki);

        AssertBothRefuse(Leaf(pki.Intermediate, pki.IntermediateKey, Now.AddDays(31)), pki);
        AssertBothRefuse(Leaf(pki.Intermediate, pki.IntermediateKey, Now.AddYears(-2)), pki);
    }

    [Fact]
    public void A_leaf_with_a_critical_extension_it_does_not_know_goes_to_the_full_build()
    {
        var pki = NewPki();
        Prime(pki);
        var unknown = new X509Extension(new Oid("1.3.6.1.4.1.57264.1.99"), [0x05, 0x00], critical: true);

        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey, extra: unknown);

        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
        Assert.False(FullBuild(leaf, [pki.Root], [pki.Intermediate], out var chain));
        chain.Dispose();
    }

    [Fact]
    public void A_remembered_path_serves_only_callers_that_trust_its_root_and_hold_its_intermediate()
    {
        var pki = NewPki();
        var other = NewPki();
        Prime(pki);
        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey);

        Assert.False(IssuerPathCache.TryAccept(leaf, [other.Root], [pki.Intermediate], requireCodeSigning: true));
        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [other.Intermediate], requireCodeSigning: true));
        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: false));
        Assert.True(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
    }

    [Fact]
    public void Paths_with_name_constraints_are_never_remembered()
    {
        var pki = NewPki(intermediateExtensions: request =>
        {
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            request.CertificateExtensions.Add(new X509Extension(new Oid("2.5.29.30"), PermitOnlyDomain("example.com"), critical: true));
        });
        Prime(pki);

        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey);

        Assert.False(IssuerPathCache.TryAccept(leaf, [pki.Root], [pki.Intermediate], requireCodeSigning: true));
    }

    [Fact]
    public void An_intermediate_that_is_not_a_ca_builds_nothing_and_is_not_remembered()
    {
        var pki = NewPki(intermediateExtensions: request =>
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true)));
        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey);

        Assert.False(FullBuild(leaf, [pki.Root], [pki.Intermediate], out var chain));
        using (chain)
        {
            // Even handed a chain object that did not build, nothing usable may be remembered from it.
            IssuerPathCache.Remember(chain, requireCodeSigning: true);
        }

        AssertBothRefuse(Leaf(pki.Intermediate, pki.IntermediateKey), pki);
    }

    [Fact]
    public void A_leaf_whose_authority_key_id_names_another_key_is_refused()
    {
        var pki = NewPki();
        var other = NewPki();
        Prime(pki);
        var aki = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(other.Intermediate, true, false);

        var leaf = Leaf(pki.Intermediate, pki.IntermediateKey, extra: aki, authorityKeyId: false);

        AssertBothRefuse(leaf, pki);
    }
}

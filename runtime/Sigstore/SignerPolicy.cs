using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>The key that checks one signature, and the certificate (with the chain the signature presented) it came from.</summary>
public sealed record SignerIdentity(VerificationKey Key, byte[] SignerDer, X509Certificate2? Certificate, IReadOnlyList<X509Certificate2> PresentedChain);

/// <summary>
/// Who may have signed: a static key, a certificate or certificate chain, or a keyless (Fulcio) identity.
/// It names the key for a signature, and judges the signer's certificate at the time the signature was made.
/// </summary>
public abstract class SignerPolicy
{
    public const string CodeSigningEku = "1.3.6.1.5.5.7.3.3";

    /// <summary>The key that must verify this signature, or null with the reason it cannot come from a trusted signer.</summary>
    public abstract SignerIdentity? Resolve(CosignSignature signature, out string? error);

    /// <summary>Checks the signer's certificate at <paramref name="signedAt"/>; null when acceptable.</summary>
    public virtual string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt) => null;

    /// <summary>
    /// Checks the signer's certificate at <paramref name="signedAt"/> against <paramref name="trustedRoot"/> (a Sigstore
    /// bundle is verified against one trusted root) instead of the process-wide <see cref="SigstoreTrust.Root"/>;
    /// null when acceptable. Trust material the policy names itself (an attestor's roots or CT log key) still wins.
    /// </summary>
    public virtual string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt, TrustedRoot trustedRoot) => CheckCertificate(signer, signedAt);

    /// <summary>The certificate the signature carries (<c>dev.sigstore.cosign/certificate</c>) and its chain.</summary>
    protected static (X509Certificate2? Certificate, List<X509Certificate2> Chain, string? Error) Presented(CosignSignature signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        try
        {
            X509Certificate2? certificate = null;
            if (signature.Annotations.TryGetValue(CosignSignature.CertificateAnnotation, out var pem) && !string.IsNullOrWhiteSpace(pem))
            {
                certificate = X509Certificate2.CreateFromPem(pem);
            }

            var chain = new List<X509Certificate2>();
            if (signature.Annotations.TryGetValue(CosignSignature.ChainAnnotation, out var chainPem) && !string.IsNullOrWhiteSpace(chainPem))
            {
                var collection = new X509Certificate2Collection();
                collection.ImportFromPem(chainPem);
                chain.AddRange(collection);
            }

            return (certificate, chain, null);
        }
        catch (CryptographicException e)
        {
            return (null, [], "the signature's certificate annotations are not valid PEM certificates: " + e.Message);
        }
    }

    /// <summary>
    /// The signer of a certificate, or null with the reason when its key cannot verify anything (a curve or key type we
    /// do not support). The certificate usually comes from the signature's own annotations, that is from whoever pushed
    /// the signature: an unusable key is a failed signature, never an exception (an exception would be a verification
    /// error, which <c>failurePolicy: Ignore</c> admits).
    /// </summary>
    protected static SignerIdentity? FromCertificate(X509Certificate2 certificate, List<X509Certificate2> chain, HashAlgorithmName hash, out string? error)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            var key = VerificationKey.FromSubjectPublicKeyInfo(certificate.PublicKey.ExportSubjectPublicKeyInfo(), hash);
            error = null;
            return new(key, certificate.RawData, certificate, chain);
        }
        catch (CryptographicException e)
        {
            error = "the signing certificate's key is not supported: " + e.Message;
            return null;
        }
    }

    /// <summary>
    /// Builds a chain from <paramref name="leaf"/> to one of <paramref name="roots"/>, evaluated at the leaf's
    /// NotBefore as cosign does (short-lived certificates are judged against the signing time separately).
    /// </summary>
    protected static string? BuildChain(X509Certificate2 leaf, IEnumerable<X509Certificate2> roots, IEnumerable<X509Certificate2> intermediates, bool requireCodeSigning)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        var trusted = roots as IReadOnlyList<X509Certificate2> ?? roots.ToList();
        var given = intermediates as IReadOnlyList<X509Certificate2> ?? intermediates.ToList();
        if (IssuerPathCache.TryAccept(leaf, trusted, given, requireCodeSigning))
        {
            return null;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = leaf.NotBefore;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(given.ToArray());
        if (requireCodeSigning)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(CodeSigningEku));
        }

        if (chain.Build(leaf))
        {
            IssuerPathCache.Remember(chain, requireCodeSigning);
            return null;
        }

        // The platform's StatusInformation is a resource key in trimmed NativeAOT builds: describe the flags ourselves.
        var problems = chain.ChainStatus.Select(s => Describe(s.Status)).Distinct(StringComparer.Ordinal);
        return "the certificate does not chain to a trusted root: " + string.Join("; ", problems);
    }

    private static string Describe(X509ChainStatusFlags status) => status switch
    {
        X509ChainStatusFlags.NotTimeValid => "a certificate in the chain was not valid at issuance",
        X509ChainStatusFlags.NotSignatureValid => "a certificate signature in the chain does not verify",
        X509ChainStatusFlags.UntrustedRoot => "the chain ends at a root that is not trusted",
        X509ChainStatusFlags.PartialChain => "the issuer of a certificate in the chain is missing",
        X509ChainStatusFlags.NotValidForUsage or X509ChainStatusFlags.InvalidPolicyConstraints => "a certificate in the chain is not valid for code signing",
        X509ChainStatusFlags.NoIssuanceChainPolicy => "a certificate in the chain is not valid for code signing",
        X509ChainStatusFlags.InvalidBasicConstraints => "an issuer in the chain is not a certification authority",
        X509ChainStatusFlags.InvalidNameConstraints or X509ChainStatusFlags.HasNotPermittedNameConstraint or X509ChainStatusFlags.HasExcludedNameConstraint => "the chain violates a name constraint",
        X509ChainStatusFlags.HasNotSupportedCriticalExtension => "a certificate in the chain has an unsupported critical extension",
        X509ChainStatusFlags.InvalidExtension => "a certificate in the chain has an invalid extension",
        X509ChainStatusFlags.Cyclic => "the chain is cyclic",
        _ => "chain status " + status,
    };

    protected static string? CheckValidity(X509Certificate2 certificate, DateTimeOffset at) =>
        at < certificate.NotBefore.ToUniversalTime() || at > certificate.NotAfter.ToUniversalTime()
            ? $"the certificate was not valid at {at.UtcDateTime:O} (valid {certificate.NotBefore.ToUniversalTime():O} to {certificate.NotAfter.ToUniversalTime():O})"
            : null;
}

/// <summary>A static public key (<c>keys.publicKeys</c>).</summary>
public sealed class StaticKeySigner(VerificationKey key) : SignerPolicy
{
    private readonly byte[] _spki = key.SubjectPublicKeyInfo.ToArray();

    public VerificationKey Key { get; } = key;

    public override SignerIdentity? Resolve(CosignSignature signature, out string? error)
    {
        error = null;
        return new SignerIdentity(Key, _spki, null, []);
    }
}

/// <summary>
/// <c>certificates</c>: with <c>cert</c>, signatures must verify under that certificate's key (and, when they carry
/// a certificate, it must be that one); with <c>certChain</c>, the signing certificate must chain to it and, unless
/// <paramref name="ignoreSct"/>, carry an embedded SCT from a trusted CT log (<paramref name="ctLogs"/>, or the trusted
/// root's). Without a chain nothing is checked beyond the key, as cosign does when it is handed a bare certificate.
/// </summary>
public sealed class CertificateSigner(X509Certificate2? certificate, IReadOnlyList<X509Certificate2> chain, HashAlgorithmName hash, bool ignoreSct, IReadOnlyList<TransparencyLog>? ctLogs) : SignerPolicy
{
    /// <summary>
    /// <c>cert</c> and <c>certChain</c> together: the trust store a Notary attestor gives Notation (Kyverno puts both in
    /// one CA store).
    /// </summary>
    public IReadOnlyList<X509Certificate2> TrustStore { get; } = certificate is null ? chain : [certificate, .. chain];

    /// <summary>
    /// A Notary entry's attestor: every certificate of its <c>cert</c> and <c>certChain</c>, trusted as Notation's CA
    /// trust store trusts them (any one of them in a signature's chain), with no signer certificate of its own.
    /// </summary>
    public static CertificateSigner NotaryTrustStore(IReadOnlyList<X509Certificate2> certificates) =>
        new(null, certificates, HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null);

    /// <summary>The signing certificate, when the attestor names one.</summary>
    public X509Certificate2? Certificate => certificate;

    /// <summary>The CA chain, root last.</summary>
    public IReadOnlyList<X509Certificate2> Chain => chain;

    /// <summary>Whether no SCT is required (cosign's IgnoreSCT; always so without a chain).</summary>
    public bool IgnoreSct => ignoreSct;

    /// <summary>The CT logs whose SCTs count (<c>ctlog.pubkey</c>), or null for the trusted root's.</summary>
    public IReadOnlyList<TransparencyLog>? CtLogs => ctLogs;

    public override SignerIdentity? Resolve(CosignSignature signature, out string? error)
    {
        var (presented, presentedChain, presentedError) = Presented(signature);
        if (presentedError is not null)
        {
            error = presentedError;
            return null;
        }

        if (certificate is not null)
        {
            if (presented is not null && !presented.RawData.AsSpan().SequenceEqual(certificate.RawData))
            {
                error = "the signature carries another certificate than the policy's";
                return null;
            }

            return FromCertificate(certificate, presentedChain, hash, out error);
        }

        if (presented is null)
        {
            error = "the signature carries no certificate";
            return null;
        }

        return FromCertificate(presented, presentedChain, hash, out error);
    }

    public override string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt) => CheckCertificate(signer, signedAt, SigstoreTrust.Root);

    public override string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt, TrustedRoot trustedRoot)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(trustedRoot);
        if (chain.Count == 0)
        {
            return null;
        }

        var leaf = signer.Certificate!;
        var roots = chain.Where(c => c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)).ToList();
        if (roots.Count == 0)
        {
            roots.Add(chain[^1]);
        }

        var intermediates = chain.Except(roots).Concat(signer.PresentedChain.Where(c => !c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData))).ToList();
        if ((BuildChain(leaf, roots, intermediates, requireCodeSigning: true) ?? (certificate is null ? CheckValidity(leaf, signedAt) : null)) is { } error)
        {
            return error;
        }

        if (ignoreSct)
        {
            return null;
        }

        // The chain built, so the leaf's issuer is among these; its key is part of what the CT log signed.
        var issuer = intermediates.Concat(roots).FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData));
        return issuer is null
            ? "the certificate's issuer is not in the chain, so its SCT cannot be checked"
            : SignedCertificateTimestamps.Verify(leaf, issuer, ctLogs ?? trustedRoot.CertificateTransparencyLogs);
    }
}

/// <summary>What a keyless certificate must say about its subject.</summary>
public sealed class KeylessIdentity(string? subject, Regex? subjectRegex, string? issuer, Regex? issuerRegex, IReadOnlyDictionary<string, string>? extensions)
{
    public string? Check(FulcioCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (subject is not null && !certificate.Subjects.Any(s => Wildcard.Match(subject, s)))
        {
            return $"subject mismatch: expected {subject}, got {string.Join(", ", certificate.Subjects)}";
        }

        if (subjectRegex is not null && !certificate.Subjects.Any(subjectRegex.IsMatch))
        {
            return $"subject mismatch: expected to match {Conditions.GoRegex.SourceOf(subjectRegex)}, got {string.Join(", ", certificate.Subjects)}";
        }

        if (issuer is not null && !string.Equals(issuer, certificate.Issuer, StringComparison.Ordinal))
        {
            return $"issuer mismatch: expected {issuer}, got {certificate.Issuer}";
        }

        if (issuerRegex is not null && (certificate.Issuer is null || !issuerRegex.IsMatch(certificate.Issuer)))
        {
            return $"issuer mismatch: expected to match {Conditions.GoRegex.SourceOf(issuerRegex)}, got {certificate.Issuer}";
        }

        foreach (var (name, expected) in extensions ?? new Dictionary<string, string>())
        {
            var actual = certificate.Extension(name);
            if (actual is null)
            {
                return $"extension mismatch: {name} is not present";
            }

            if (expected.Length > 0 && !Wildcard.Match(expected, actual))
            {
                return $"extension mismatch: expected {expected} for {name}, got {actual}";
            }
        }

        return null;
    }
}

/// <summary>
/// <c>keyless</c>: the signing certificate must chain to the Fulcio roots (the trusted root's, or the attestor's
/// <c>roots</c>), be valid when the signature was logged, carry an SCT from a trusted CT log, and name the identity.
/// </summary>
public sealed class KeylessSigner(KeylessIdentity identity, IReadOnlyList<X509Certificate2>? roots, bool ignoreSct, IReadOnlyList<TransparencyLog>? ctLogs) : SignerPolicy
{
    /// <summary>The identity the signing certificate must name.</summary>
    public KeylessIdentity Identity => identity;

    /// <summary>The policy's own roots (<c>keyless.roots</c>), or null for the trusted root's Fulcio authorities.</summary>
    public IReadOnlyList<X509Certificate2>? Roots => roots;

    /// <summary>The CT logs whose SCTs count (<c>ctlog.pubkey</c>), or null for the trusted root's.</summary>
    public IReadOnlyList<TransparencyLog>? CtLogs => ctLogs;

    public override SignerIdentity? Resolve(CosignSignature signature, out string? error)
    {
        var (presented, presentedChain, presentedError) = Presented(signature);
        if (presentedError is not null || presented is null)
        {
            error = presentedError ?? "the signature carries no certificate";
            return null;
        }

        return FromCertificate(presented, presentedChain, HashAlgorithmName.SHA256, out error);
    }

    public override string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt) => CheckCertificate(signer, signedAt, SigstoreTrust.Root);

    public override string? CheckCertificate(SignerIdentity signer, DateTimeOffset signedAt, TrustedRoot trustedRoot)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(trustedRoot);
        var leaf = signer.Certificate!;
        string? chainError = "no certificate authority was valid when the certificate was issued";
        X509Certificate2? issuer = null;
        foreach (var (authorityRoots, authorityIntermediates) in Authorities(leaf, trustedRoot))
        {
            chainError = BuildChain(leaf, authorityRoots, authorityIntermediates.Concat(signer.PresentedChain), requireCodeSigning: true);
            if (chainError is null)
            {
                issuer = authorityIntermediates.Concat(authorityRoots).Concat(signer.PresentedChain)
                    .FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData));
                break;
            }
        }

        if (chainError is not null)
        {
            return chainError;
        }

        if (CheckValidity(leaf, signedAt) is { } validity)
        {
            return validity;
        }

        if (identity.Check(FulcioCertificate.Read(leaf)) is { } identityError)
        {
            return identityError;
        }

        if (!ignoreSct)
        {
            if (issuer is null)
            {
                return "the certificate's issuer is not in the chain, so its SCT cannot be checked";
            }

            if (SignedCertificateTimestamps.Verify(leaf, issuer, ctLogs ?? trustedRoot.CertificateTransparencyLogs) is { } sctError)
            {
                return sctError;
            }
        }

        return null;
    }

    private IEnumerable<(List<X509Certificate2> Roots, List<X509Certificate2> Intermediates)> Authorities(X509Certificate2 leaf, TrustedRoot trustedRoot)
    {
        if (roots is not null)
        {
            yield return (roots.Where(IsSelfSigned).ToList(), roots.Where(c => !IsSelfSigned(c)).ToList());
            yield break;
        }

        var issued = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
        foreach (var authority in trustedRoot.CertificateAuthorities)
        {
            if ((authority.ValidFrom is null || issued >= authority.ValidFrom) && (authority.ValidUntil is null || issued <= authority.ValidUntil))
            {
                yield return (authority.Chain.Where(IsSelfSigned).ToList(), authority.Chain.Where(c => !IsSelfSigned(c)).ToList());
            }
        }
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}

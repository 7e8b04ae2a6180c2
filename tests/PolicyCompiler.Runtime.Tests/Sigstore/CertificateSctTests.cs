using System.Security.Cryptography;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Tests.Shared;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// SCTs of <c>certificates</c> attestors, as Kyverno hands them to cosign: with <c>certChain</c> the signing certificate
/// must carry an embedded SCT of a trusted CT log unless <c>ctlog.ignoreSCT</c>; with a bare <c>cert</c> cosign only
/// uses the certificate's key, so no SCT is asked for.
/// </summary>
public sealed class CertificateSctTests : IDisposable
{
    private readonly SctPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static SignatureCheck Verify(CosignSignature signature, SignerPolicy signer) =>
        CosignVerifier.Verify([signature], SctPki.Digest, signer, SignatureRequirements.None, TimeProvider.System);

    private CertificateSigner ChainSigner(bool ignoreSct, bool withLog = true) =>
        new(null, [_pki.Root], HashAlgorithmName.SHA256, ignoreSct, withLog ? [_pki.CtLog] : null);

    [Fact]
    public void ChainWithAnSctOfTheConfiguredLogVerifies()
    {
        using var leaf = _pki.Leaf(_pki.CtKey);

        var check = Verify(_pki.Signed(leaf), ChainSigner(ignoreSct: false));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ChainWithoutAnSctFailsByDefaultAndVerifiesWithIgnoreSct()
    {
        using var leaf = _pki.Leaf(sctSigner: null);

        var strict = Verify(_pki.Signed(leaf), ChainSigner(ignoreSct: false));
        var ignoring = Verify(_pki.Signed(leaf), ChainSigner(ignoreSct: true, withLog: false));

        Assert.False(strict.Verified);
        Assert.Contains("the certificate has no embedded SCT", strict.Reason, StringComparison.Ordinal);
        Assert.True(ignoring.Verified, ignoring.Reason);
    }

    [Fact]
    public void WithoutCtlogPubkeyTheTrustedRootsLogsDecideAndATestLogIsNotAmongThem()
    {
        using var leaf = _pki.Leaf(_pki.CtKey);

        var check = Verify(_pki.Signed(leaf), ChainSigner(ignoreSct: false, withLog: false));

        Assert.False(check.Verified);
        Assert.Contains("the SCT comes from a CT log that is not trusted", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnSctThatClaimsTheTrustedLogButIsSignedByAnotherKeyFails()
    {
        using var leaf = _pki.Leaf(_pki.OtherCtKey, claimedLog: SctPki.LogId(_pki.CtKey));

        var check = Verify(_pki.Signed(leaf), ChainSigner(ignoreSct: false));

        Assert.False(check.Verified);
        Assert.Contains("the SCT signature does not verify with the CT log key", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnSctOfAnotherCertificateDoesNotTransfer()
    {
        using var donor = _pki.Leaf(_pki.CtKey);
        using var grafted = _pki.Grafted(donor);

        var check = Verify(_pki.Signed(grafted), ChainSigner(ignoreSct: false));

        Assert.False(check.Verified);
        Assert.Contains("the SCT signature does not verify", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PinnedCertificateWithAChainNeedsItsOwnSct()
    {
        using var logged = _pki.Leaf(_pki.CtKey);
        using var unlogged = _pki.Leaf(sctSigner: null);
        var chain = new[] { _pki.Intermediate, _pki.Root };

        var withSct = Verify(_pki.Signed(logged), new CertificateSigner(logged, chain, HashAlgorithmName.SHA256, ignoreSct: false, [_pki.CtLog]));
        var withoutSct = Verify(_pki.Signed(unlogged), new CertificateSigner(unlogged, chain, HashAlgorithmName.SHA256, ignoreSct: false, [_pki.CtLog]));
        var ignored = Verify(_pki.Signed(unlogged), new CertificateSigner(unlogged, chain, HashAlgorithmName.SHA256, ignoreSct: true, ctLogs: null));

        Assert.True(withSct.Verified, withSct.Reason);
        Assert.False(withoutSct.Verified);
        Assert.Contains("the certificate has no embedded SCT", withoutSct.Reason, StringComparison.Ordinal);
        Assert.True(ignored.Verified, ignored.Reason);
    }

    [Fact]
    public void PinnedCertificateWithoutAChainIsOnlyAKeySoNoSctIsAskedFor()
    {
        // cosign turns a bare certificate into a key verifier and never reads its extensions.
        using var unlogged = _pki.Leaf(sctSigner: null);

        var check = Verify(_pki.Signed(unlogged), new CertificateSigner(unlogged, [], HashAlgorithmName.SHA256, ignoreSct: false, [_pki.CtLog]));

        Assert.True(check.Verified, check.Reason);
    }
}

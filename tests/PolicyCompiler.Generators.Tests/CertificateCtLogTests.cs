using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Tests.Shared;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>certificates.ctlog</c> compiles with Kyverno's defaults: with a <c>certChain</c> the signing certificate's
/// embedded SCT is checked unless <c>ignoreSCT: true</c> (against <c>ctlog.pubkey</c>, else the trusted root's CT logs);
/// a bare <c>cert</c> is only a key to cosign, so its SCT is never looked at whatever <c>ctlog</c> says.
/// </summary>
public sealed class CertificateCtLogTests : IDisposable
{
    private const string File = "/repo/policies/policy.yaml";

    private readonly SctPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static string Indent(string pem, int spaces) =>
        string.Join("\n", pem.Trim().Split('\n').Select(l => new string(' ', spaces) + l));

    private static string Policy(string certificates) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: certificate-sct
        spec:
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["registry.test/*"]
                attestors:
                - entries:
                  - certificates:
                      rekor: {ignoreTlog: true}
        {{certificates}}
        """;

    private string Chain => "              certChain: |-\n" + Indent(_pki.Root.ExportCertificatePem(), 16);

    private string CtLogPubKey => "              ctlog:\n                pubkey: |-\n" + Indent(_pki.CtKeyPem, 18);

    private static CertificateSigner CompiledSigner(string yaml)
    {
        var policy = Assert.Single(Load(("policy.yaml", yaml)));
        var attestor = Assert.IsType<SignatureAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries));
        return Assert.IsType<CertificateSigner>(attestor.Signer);
    }

    private static SignatureCheck Verify(SignerPolicy signer, CosignSignature signature) =>
        CosignVerifier.Verify([signature], SctPki.Digest, signer, SignatureRequirements.None, TimeProvider.System);

    [Fact]
    public void A_chain_without_ctlog_checks_scts_against_the_trusted_root()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy(Chain)).AssertClean();

        Assert.Contains("ignoreSct: false, ctLogs: null", Assert.Single(run.PolicySources).Value, StringComparison.Ordinal);

        // The trusted root (public good) does not know the test CT log: a logged certificate still fails, and says why.
        using var logged = _pki.Leaf(_pki.CtKey);
        var check = Verify(CompiledSigner(Policy(Chain)), _pki.Signed(logged));
        Assert.False(check.Verified);
        Assert.Contains("the SCT comes from a CT log that is not trusted", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chain_with_ctlog_pubkey_admits_only_certificates_that_log_vouched_for()
    {
        var yaml = Policy(Chain + "\n" + CtLogPubKey);
        var run = GeneratorHarness.Run("policy.yaml", yaml).AssertClean();
        Assert.Contains("ignoreSct: false, ctLogs: [TransparencyLog.FromKey(\"ctlog\", Key0)]", Assert.Single(run.PolicySources).Value, StringComparison.Ordinal);

        var signer = CompiledSigner(yaml);
        using var logged = _pki.Leaf(_pki.CtKey);
        using var otherLog = _pki.Leaf(_pki.OtherCtKey);
        using var unlogged = _pki.Leaf(sctSigner: null);

        var pass = Verify(signer, _pki.Signed(logged));
        Assert.True(pass.Verified, pass.Reason);
        Assert.Contains("not trusted", Verify(signer, _pki.Signed(otherLog)).Reason, StringComparison.Ordinal);
        Assert.Contains("no embedded SCT", Verify(signer, _pki.Signed(unlogged)).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chain_with_ignoreSCT_admits_a_certificate_without_sct()
    {
        var yaml = Policy(Chain + "\n              ctlog: {ignoreSCT: true}");
        var run = GeneratorHarness.Run("policy.yaml", yaml).AssertClean();
        Assert.Contains("ignoreSct: true, ctLogs: null", Assert.Single(run.PolicySources).Value, StringComparison.Ordinal);

        using var unlogged = _pki.Leaf(sctSigner: null);
        var check = Verify(CompiledSigner(yaml), _pki.Signed(unlogged));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void A_bare_cert_never_checks_scts_even_with_a_ctlog_block()
    {
        using var unlogged = _pki.Leaf(sctSigner: null);
        var yaml = Policy("              cert: |-\n" + Indent(unlogged.ExportCertificatePem(), 16) + "\n              ctlog:\n                ignoreSCT: false");
        var run = GeneratorHarness.Run("policy.yaml", yaml).AssertClean();
        Assert.Contains("ignoreSct: true, ctLogs: null", Assert.Single(run.PolicySources).Value, StringComparison.Ordinal);

        var check = Verify(CompiledSigner(yaml), _pki.Signed(unlogged));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void A_ctlog_pubkey_that_is_not_a_key_is_a_build_error_at_its_value()
    {
        var yaml = Policy("              ctlog:\n                pubkey: not a key\n" + Chain);

        var diagnostic = GeneratorHarness.Run("policy.yaml", yaml).Single("PC0006");

        DiagnosticAssert.MessageContains(diagnostic, "in ctlog.pubkey");
        DiagnosticAssert.At(diagnostic, File, 19, 25);
    }
}

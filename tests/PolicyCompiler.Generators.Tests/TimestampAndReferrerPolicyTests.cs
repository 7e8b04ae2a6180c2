using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary><c>cosignOCI11</c> and <c>ctlog.tsaCertChain</c> compile into the entry and the attestor's requirements.</summary>
public sealed class TimestampAndReferrerPolicyTests
{
    private const string Key = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
        5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
        -----END PUBLIC KEY-----
        """;

    private static string Indent(string text, int spaces) =>
        string.Join("\n", text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n').Select(line => new string(' ', spaces) + line));

    private static string Policy(string entryExtra = "", string ctlog = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: tsa-and-referrers
        spec:
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["ghcr.io/*"]
        {{entryExtra}}
                attestors:
                - entries:
                  - keys:
                      publicKeys: |-
        {{Indent(Key, 16)}}
                      rekor: {ignoreTlog: true}
        {{ctlog}}
        """;

    private static (X509Certificate2 Root, X509Certificate2 Leaf) TsaChain()
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Policy TSA Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var leafRequest = new CertificateRequest("CN=Policy TSA", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.8")], true));
        var leaf = leafRequest.Create(root, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddMonths(6), [1, 2, 3]);
        return (root, leaf);
    }

    private static string CtLog(string pem) => $"""
                      ctlog:
                        tsaCertChain: |-
        {Indent(pem, 18)}
        """;

    [Fact]
    public void CosignOci11_is_compiled_into_the_entry()
    {
        var with = Assert.Single(Load(("policy.yaml", Policy("        cosignOCI11: true"))));
        var without = Assert.Single(Load(("policy.yaml", Policy())));

        Assert.True(Assert.Single(with.Rules[0].VerifyImages).CosignOci11);
        Assert.False(Assert.Single(without.Rules[0].VerifyImages).CosignOci11);
    }

    [Fact]
    public void CosignOci11_on_a_SigstoreBundle_entry_is_a_build_error_at_the_setting()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("        type: SigstoreBundle\n        cosignOCI11: true"));

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, "'cosignOCI11' cannot be combined with 'type: SigstoreBundle'");
        DiagnosticAssert.At(diagnostic, GeneratorHarness.PolicyDirectory + "policy.yaml", 15, 22);
    }

    [Fact]
    public void TsaCertChain_becomes_the_attestors_timestamp_authority()
    {
        var (root, leaf) = TsaChain();
        using (root)
        using (leaf)
        {
            var policy = Assert.Single(Load(("policy.yaml", Policy(ctlog: CtLog(root.ExportCertificatePem() + "\n" + leaf.ExportCertificatePem())))));
            var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries));

            var authority = Assert.Single(attestor.Requirements.TimestampAuthorities!);
            Assert.True(authority.SignerMayBeEmbedded);

            // Leaf-most first whatever the order in the policy.
            Assert.Equal([leaf.Thumbprint, root.Thumbprint], authority.Chain.Select(c => c.Thumbprint));
        }
    }

    [Fact]
    public void Without_tsaCertChain_the_trusted_roots_authorities_apply()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy())));
        var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries));

        Assert.Null(attestor.Requirements.TimestampAuthorities);
    }

    [Fact]
    public void A_tsaCertChain_without_its_root_is_a_build_error()
    {
        var (root, leaf) = TsaChain();
        using (root)
        using (leaf)
        {
            var run = GeneratorHarness.Run("policy.yaml", Policy(ctlog: CtLog(leaf.ExportCertificatePem())));

            var diagnostic = run.Single("PC0018");
            DiagnosticAssert.MessageContains(diagnostic, "ctlog.tsaCertChain");
            DiagnosticAssert.MessageContains(diagnostic, "include the root");
        }
    }

    [Fact]
    public void A_tsaCertChain_that_is_not_PEM_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy(ctlog: CtLog("not a certificate")));

        DiagnosticAssert.MessageContains(run.Single("PC0018"), "ctlog.tsaCertChain");
    }
}

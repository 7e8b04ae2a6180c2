using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>type: Notary</c>: compiled with its certificates as the Notation trust store; keys, keyless, the deprecated
/// single-key forms and attestations are build errors at their line.
/// </summary>
public sealed class NotaryPolicyTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Indent(string text, int spaces) =>
        string.Join("\n", text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n').Select(line => new string(' ', spaces) + line));

    private static X509Certificate2 Root()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Notation Root, O=PolicyCompiler tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static string Policy(string entries, string entryExtra = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: check-notary
        spec:
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - type: Notary
                imageReferences: ["ghcr.io/*"]
        {{entryExtra}}
                attestors:
                - count: 1
                  entries:
        {{entries}}
        """;

    private static string Certificates(string pem) => $"""
                  - certificates:
                      cert: |-
        {Indent(pem, 16)}
        """;

    [Fact]
    public void A_Notary_entry_compiles_with_its_cert_as_the_trust_store()
    {
        using var root = Root();
        var policy = Assert.Single(Load(("policy.yaml", Policy(Certificates(root.ExportCertificatePem())))));

        var entry = Assert.Single(policy.Rules[0].VerifyImages);
        Assert.Equal(SignatureFormat.Notary, entry.Format);
        var attestor = Assert.IsType<SignatureAttestorDefinition>(Assert.Single(Assert.Single(entry.Attestors).Entries));
        var signer = Assert.IsType<CertificateSigner>(attestor.Signer);
        Assert.Equal(root.Thumbprint, Assert.Single(signer.TrustStore).Thumbprint);
    }

    [Fact]
    public void A_Notary_cert_that_is_not_PEM_is_a_build_error_at_the_cert()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy(Certificates("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----")));

        var diagnostic = run.Single("PC0018");
        DiagnosticAssert.MessageContains(diagnostic, "certificates.cert");
        DiagnosticAssert.At(diagnostic, File, 20, 21);
    }

    [Theory]
    [InlineData("keys", "              - keys:\n                  publicKeys: \"k8s://default/cosign\"", 20, 19)]
    [InlineData("keyless", "              - keyless:\n                  subject: someone@example.com\n                  issuer: https://accounts.example.com", 20, 19)]
    public void Keys_and_keyless_attestors_of_a_Notary_entry_are_build_errors(string field, string entry, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy(entry));

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, $"'{field}' cannot be combined with 'type: Notary'");
        DiagnosticAssert.MessageContains(diagnostic, "certificates attestors only");
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Fact]
    public void A_key_in_a_nested_attestor_set_of_a_Notary_entry_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                          - attestor:
                              entries:
                              - keys:
                                  publicKeys: "k8s://default/cosign"
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0024"), "'keys' cannot be combined with 'type: Notary'");
    }

    [Fact]
    public void Notary_attestations_are_not_built_yet()
    {
        using var root = Root();
        var run = GeneratorHarness.Run("policy.yaml", Policy(Certificates(root.ExportCertificatePem()), """
                    attestations:
                    - type: sbom/cyclone-dx
            """));

        var diagnostic = run.Single("PC0099");
        DiagnosticAssert.MessageContains(diagnostic, "Notation attestations");
        DiagnosticAssert.At(diagnostic, File, 16, 11);
    }

    [Fact]
    public void CosignOci11_on_a_Notary_entry_is_a_build_error()
    {
        using var root = Root();
        var run = GeneratorHarness.Run("policy.yaml", Policy(Certificates(root.ExportCertificatePem()), "        cosignOCI11: true"));

        DiagnosticAssert.MessageContains(run.Single("PC0024"), "'cosignOCI11' cannot be combined with 'type: Notary'");
    }
}

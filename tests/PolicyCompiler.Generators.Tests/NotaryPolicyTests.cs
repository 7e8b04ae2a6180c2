using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>type: Notary</c>: compiled with its certificates as the Notation trust store, for signatures and attestations;
/// keys, keyless and the deprecated single-key forms are build errors at their line.
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

    private static X509Certificate2 Intermediate(string name)
    {
        // A CA that is not self-issued and whose issuer is in no field: a cosign certChain would be refused for it.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issuerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuer = new CertificateRequest("CN=Absent Root", issuerKey, HashAlgorithmName.SHA256);
        issuer.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var issuerCertificate = issuer.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var request = new CertificateRequest($"CN={name}, O=PolicyCompiler tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.Create(issuerCertificate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), [1, 2, 3]);
    }

    [Fact]
    public void Every_certificate_of_cert_and_certChain_is_in_the_Notary_trust_store()
    {
        using var first = Root();
        using var second = Root();
        using var unrelated = Intermediate("Other CA");
        var entries = $"""
                  - certificates:
                      cert: |-
        {Indent(first.ExportCertificatePem() + "\n" + second.ExportCertificatePem(), 16)}
                      certChain: |-
        {Indent(unrelated.ExportCertificatePem(), 16)}
        """;
        var policy = Assert.Single(Load(("policy.yaml", Policy(entries))));

        var attestor = Assert.IsType<SignatureAttestorDefinition>(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages[0].Attestors).Entries));
        var signer = Assert.IsType<CertificateSigner>(attestor.Signer);
        Assert.Equal([first.Thumbprint, second.Thumbprint, unrelated.Thumbprint], signer.TrustStore.Select(c => c.Thumbprint));
    }

    [Fact]
    public void Several_certificates_in_cert_are_still_an_error_outside_a_Notary_entry()
    {
        using var first = Root();
        using var second = Root();
        var policy = Policy(Certificates(first.ExportCertificatePem() + "\n" + second.ExportCertificatePem())).Replace("- type: Notary\n", "- type: Cosign\n", StringComparison.Ordinal);
        var run = GeneratorHarness.Run("policy.yaml", policy);

        DiagnosticAssert.MessageContains(run.Single("PC0018"), "give exactly one certificate");
    }

    [Fact]
    public void A_bad_second_certificate_in_a_Notary_certChain_is_a_build_error_naming_it()
    {
        using var root = Root();
        var entries = $"""
                  - certificates:
                      certChain: |-
        {Indent(root.ExportCertificatePem() + "\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", 16)}
        """;
        var run = GeneratorHarness.Run("policy.yaml", Policy(entries));

        var diagnostic = run.Single("PC0018");
        DiagnosticAssert.MessageContains(diagnostic, "certificates.certChain");
        DiagnosticAssert.MessageContains(diagnostic, "PEM block #2");
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
    public void Notary_attestations_compile_with_their_certificates_as_the_trust_store_and_their_conditions()
    {
        using var root = Root();
        using var other = Root();
        var policy = $$$"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-notary
            spec:
              rules:
                - name: check-sbom
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - type: Notary
                    imageReferences: ["ghcr.io/*"]
                    attestations:
                    - type: application/vnd.cyclonedx+json
                      attestors:
                      - entries:
                        - certificates:
                            cert: |-
            {{{Indent(root.ExportCertificatePem() + "\n" + other.ExportCertificatePem(), 18)}}}
                      conditions:
                      - all:
                        - key: "{{ bomFormat }}"
                          operator: Equals
                          value: CycloneDX
            """;
        var compiled = Assert.Single(Load(("policy.yaml", policy)));

        var entry = Assert.Single(compiled.Rules[0].VerifyImages);
        Assert.Equal(SignatureFormat.Notary, entry.Format);
        Assert.True(entry.Attestors.IsDefaultOrEmpty);
        var attestation = Assert.Single(entry.Attestations);
        Assert.Equal("application/vnd.cyclonedx+json", attestation.PredicateType);
        Assert.False(attestation.Conditions.IsEmpty);
        var signer = Assert.IsType<CertificateSigner>(Assert.IsType<SignatureAttestorDefinition>(Assert.Single(Assert.Single(attestation.Attestors).Entries)).Signer);
        Assert.Equal([root.Thumbprint, other.Thumbprint], signer.TrustStore.Select(c => c.Thumbprint));
    }

    [Fact]
    public void A_key_attestor_of_a_Notary_attestation_is_a_build_error_at_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-notary
            spec:
              rules:
                - name: check-sbom
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - type: Notary
                    imageReferences: ["ghcr.io/*"]
                    attestations:
                    - type: application/vnd.cyclonedx+json
                      attestors:
                      - entries:
                        - keys:
                            publicKeys: "k8s://default/cosign"
            """);

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, "'keys' cannot be combined with 'type: Notary'");
        DiagnosticAssert.At(diagnostic, File, 20, 17);
    }

    [Fact]
    public void CosignOci11_on_a_Notary_entry_is_a_build_error()
    {
        using var root = Root();
        var run = GeneratorHarness.Run("policy.yaml", Policy(Certificates(root.ExportCertificatePem()), "        cosignOCI11: true"));

        DiagnosticAssert.MessageContains(run.Single("PC0024"), "'cosignOCI11' cannot be combined with 'type: Notary'");
    }
}

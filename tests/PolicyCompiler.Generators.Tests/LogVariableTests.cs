using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// Variables in an attestor's <c>rekor</c> (<c>url</c>, <c>pubkey</c>) and <c>ctlog</c> (<c>pubkey</c>, <c>tsaCertChain</c>)
/// blocks: compiled to attestors substituted per review, like the identity and certificate fields, with the substituted
/// log keys being the ones the requirements and the signer use.
/// </summary>
public sealed class LogVariableTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string attestor) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: log-variables
        spec:
          rules:
            - name: check
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: logs
                configMap:
                  name: logs
                  namespace: kyverno
              verifyImages:
              - imageReferences: ["ghcr.io/*"]
                attestors:
                - entries:
                  - {{attestor}}
        """;

    private static TemplatedAttestorDefinition Attestor(string attestor)
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy(attestor))));
        var set = Assert.Single(Assert.Single(policy.Rules.First(r => r.Name == "check").VerifyImages).Attestors);
        return Assert.IsType<TemplatedAttestorDefinition>(Assert.Single(set.Entries));
    }

    private static AttestorDefinition Substitute(TemplatedAttestorDefinition attestor, object root) =>
        attestor.Substitute(Runtime.Conditions.JmesValue.ParseJson(JsonSerializer.Serialize(root)), new Runtime.Conditions.JmesContext());

    private static (string Pem, byte[] Spki) NewKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key.ExportSubjectPublicKeyInfoPem(), key.ExportSubjectPublicKeyInfo());
    }

    private static byte[] Spki(TransparencyLog log) => log.Key.SubjectPublicKeyInfo.ToArray();

    [Fact]
    public void Keyless_rekor_and_ctlog_keys_from_the_context_are_the_keys_used()
    {
        var attestor = Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          rekor:
                            url: https://rekor.internal
                            pubkey: "{{ logs.data.rekor }}"
                          ctlog:
                            pubkey: "{{ logs.data.ct }}"
            """);
        Assert.Equal(["rekor.pubkey", "ctlog.pubkey"], attestor.Templates.Select(t => t.Field));
        Assert.False(attestor.ReadsRequest);

        var (rekorPem, rekorSpki) = NewKey();
        var (ctPem, ctSpki) = NewKey();
        var substituted = Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = rekorPem, ct = ctPem } } }));

        var log = Assert.Single(substituted.Requirements.Tlog.Logs);
        Assert.Equal(rekorSpki, Spki(log));
        Assert.Equal("https://rekor.internal", log.BaseUrl);
        var signer = Assert.IsType<KeylessSigner>(substituted.Signer);
        Assert.Equal(ctSpki, Spki(Assert.Single(signer.CtLogs!)));

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = rekorPem, ct = "not a key" } } }));
        Assert.Equal("rekor.pubkey {{ logs.data.rekor }}, ctlog.pubkey {{ logs.data.ct }} gave no usable attestor (ctlog.pubkey holds no PEM public key)", bad.Reason);
        Assert.Equal(".attestors[0].entries[0].keyless", bad.Path);

        var missing = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { ct = ctPem } } }));
        Assert.StartsWith("rekor.pubkey {{ logs.data.rekor }}: ", missing.Reason, StringComparison.Ordinal);

        var empty = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = "", ct = ctPem } } }));
        Assert.Equal("rekor.pubkey {{ logs.data.rekor }} is empty", empty.Reason);
    }

    [Fact]
    public void A_literal_key_with_a_rekor_url_from_the_request_is_substituted_per_request()
    {
        var (signerPem, signerSpki) = NewKey();
        var (rekorPem, rekorSpki) = NewKey();
        var attestor = Attestor($$$"""
            keys:
                          publicKeys: |-
                            {{{signerPem.Replace("\n", "\n                            ", StringComparison.Ordinal).TrimEnd()}}}
                          rekor:
                            url: "https://{{ request.namespace }}.rekor.example"
                            pubkey: "{{ logs.data.rekor }}"
            """);
        Assert.Equal(["rekor.url", "rekor.pubkey"], attestor.Templates.Select(t => t.Field));
        // The URL reads the request, so a verdict holds for this request only.
        Assert.True(attestor.ReadsRequest);

        var substituted = Assert.IsType<PublicKeyAttestorDefinition>(Substitute(attestor, new { request = new { @namespace = "team-a" }, logs = new { data = new { rekor = rekorPem } } }));

        Assert.Equal(signerSpki, substituted.Key.SubjectPublicKeyInfo.ToArray());
        var log = Assert.Single(substituted.Requirements.Tlog.Logs);
        Assert.Equal(rekorSpki, Spki(log));
        Assert.Equal("https://team-a.rekor.example", log.BaseUrl);
    }

    [Fact]
    public void A_rekor_url_from_the_context_without_a_key_must_name_the_public_rekor()
    {
        var attestor = Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          rekor:
                            url: "{{ logs.data.url }}"
            """);

        var publicGood = Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { url = "https://rekor.sigstore.dev" } } }));
        Assert.Same(TransparencyLogPolicy.TrustedRootLogs, publicGood.Requirements.Tlog);

        // A private log's bundles cannot be trusted without its key: the attestor fails rather than trusting the root's logs.
        var other = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { url = "https://rekor.internal" } } }));
        Assert.Equal("rekor.url {{ logs.data.url }} gave no usable attestor (rekor.url https://rekor.internal is not https://rekor.sigstore.dev, and a private Rekor needs rekor.pubkey)", other.Reason);

        var notUrl = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { url = "rekor" } } }));
        Assert.Equal("rekor.url {{ logs.data.url }} gave no usable attestor (rekor.url \"rekor\" is not an absolute http(s) URL)", notUrl.Reason);
    }

    [Fact]
    public void A_tsa_chain_from_the_context_is_the_timestamp_authority_of_the_requirements()
    {
        var attestor = Attestor("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          ctlog:
                            tsaCertChain: "{{ logs.data.tsa }}"
            """);
        Assert.Equal("ctlog.tsaCertChain", Assert.Single(attestor.Templates).Field);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var root = new CertificateRequest("CN=tsa root", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var substituted = Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { tsa = root.ExportCertificatePem() } } }));

        var authority = Assert.Single(substituted.Requirements.TimestampAuthorities!);
        Assert.Equal(root.Thumbprint, Assert.Single(authority.Chain).Thumbprint);
        // The log requirement is untouched: without a rekor block, the trusted root's logs.
        Assert.Same(TransparencyLogPolicy.TrustedRootLogs, substituted.Requirements.Tlog);

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { tsa = "not a certificate" } } }));
        Assert.Equal("ctlog.tsaCertChain {{ logs.data.tsa }} gave no usable attestor (no PEM certificate found)", bad.Reason);
    }

    [Fact]
    public void Certificates_substitute_the_ct_log_key_next_to_a_literal_chain()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = new CertificateRequest("CN=ca", caKey, HashAlgorithmName.SHA256) { CertificateExtensions = { new X509BasicConstraintsExtension(true, false, 0, true) } }
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var attestor = Attestor($$$"""
            certificates:
                          certChain: |-
                            {{{ca.ExportCertificatePem().Replace("\n", "\n                            ", StringComparison.Ordinal).TrimEnd()}}}
                          ctlog:
                            pubkey: "{{ logs.data.ct }}"
            """);
        var (ctPem, ctSpki) = NewKey();

        var signer = Assert.IsType<CertificateSigner>(Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { ct = ctPem } } })).Signer);

        Assert.Equal(ca.Thumbprint, Assert.Single(signer.Chain).Thumbprint);
        Assert.False(signer.IgnoreSct);
        Assert.Equal(ctSpki, Spki(Assert.Single(signer.CtLogs!)));
    }

    [Fact]
    public void A_notary_trust_store_takes_only_its_certificates_from_the_substituted_fields()
    {
        var yaml = Policy("""
            certificates:
                          cert: "{{ logs.data.cert }}"
                          rekor:
                            url: https://rekor.internal
                            pubkey: "{{ logs.data.rekor }}"
            """).Replace("- imageReferences: [\"ghcr.io/*\"]", "- type: Notary\n        imageReferences: [\"ghcr.io/*\"]", StringComparison.Ordinal);
        Assert.Contains("type: Notary", yaml, StringComparison.Ordinal);
        var policy = Assert.Single(Load(("policy.yaml", yaml)));
        var attestor = Assert.IsType<TemplatedAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules.First(r => r.Name == "check").VerifyImages).Attestors).Entries));
        Assert.Equal(["cert", "rekor.pubkey"], attestor.Templates.Select(t => t.Field));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = new CertificateRequest("CN=notary ca", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var substituted = Assert.IsType<SignatureAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { cert = ca.ExportCertificatePem(), rekor = NewKey().Pem } } }));

        Assert.Equal(ca.Thumbprint, Assert.Single(Assert.IsType<CertificateSigner>(substituted.Signer).TrustStore).Thumbprint);
    }

    [Fact]
    public void A_secret_key_takes_its_rekor_key_and_tsa_chain_from_the_context_before_the_secret_is_read()
    {
        var attestor = Attestor("""
            keys:
                          secret:
                            name: cosign-public-key
                            namespace: kyverno
                          signatureAlgorithm: sha384
                          rekor:
                            url: https://rekor.internal
                            pubkey: "{{ logs.data.rekor }}"
                          ctlog:
                            tsaCertChain: "{{ logs.data.tsa }}"
            """);
        Assert.Equal(["rekor.pubkey", "ctlog.tsaCertChain"], attestor.Templates.Select(t => t.Field));
        Assert.False(attestor.ReadsRequest);

        var (rekorPem, rekorSpki) = NewKey();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var tsa = new CertificateRequest("CN=tsa root", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var substituted = Assert.IsType<SecretKeyAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = rekorPem, tsa = tsa.ExportCertificatePem() } } }));

        // Still a Secret to read (the verifier reads it next), now with the substituted log and timestamp authority.
        Assert.Equal(("kyverno", "cosign-public-key", HashAlgorithmName.SHA384), (substituted.Namespace, substituted.Name, substituted.Hash));
        Assert.Equal(".attestors[0].entries[0].keys", substituted.Path);
        var log = Assert.Single(substituted.Requirements.Tlog.Logs);
        Assert.Equal(rekorSpki, Spki(log));
        Assert.Equal("https://rekor.internal", log.BaseUrl);
        Assert.Equal(tsa.Thumbprint, Assert.Single(Assert.Single(substituted.Requirements.TimestampAuthorities!).Chain).Thumbprint);

        var bad = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = "not a key", tsa = tsa.ExportCertificatePem() } } }));
        Assert.Equal("rekor.pubkey {{ logs.data.rekor }}, ctlog.tsaCertChain {{ logs.data.tsa }} gave no usable attestor (rekor.pubkey holds no PEM public key)", bad.Reason);
    }

    [Fact]
    public void A_key_template_with_a_rekor_key_template_substitutes_both_and_reads_the_request_when_the_key_does()
    {
        var attestor = Attestor("""
            keys:
                          publicKeys: "{{ keys.data.{{ request.namespace }} }}"
                          rekor:
                            url: https://rekor.internal
                            pubkey: "{{ logs.data.rekor }}"
            """);
        // Only the log is a template of the attestor; the key is the built attestor's, and it reads the request.
        Assert.Equal("rekor.pubkey", Assert.Single(attestor.Templates).Field);
        Assert.True(attestor.ReadsRequest);

        var (rekorPem, rekorSpki) = NewKey();
        var substituted = Assert.IsType<VariableKeyAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { rekor = rekorPem } } }));

        Assert.Equal("{{ keys.data.{{ request.namespace }} }}", substituted.Text);
        Assert.True(substituted.ReadsRequest);
        Assert.Equal(rekorSpki, Spki(Assert.Single(substituted.Requirements.Tlog.Logs)));
    }

    [Fact]
    public void A_kms_key_with_a_rekor_url_from_the_context_must_name_the_public_rekor_without_a_key()
    {
        var attestor = Attestor("""
            keys:
                          kms: "awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                          rekor:
                            url: "{{ logs.data.url }}"
            """);

        var publicGood = Assert.IsType<KmsKeyAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { url = "https://rekor.sigstore.dev" } } }));
        Assert.Equal("awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", publicGood.Reference);
        Assert.Same(TransparencyLogPolicy.TrustedRootLogs, publicGood.Requirements.Tlog);

        var other = Assert.IsType<UnavailableAttestorDefinition>(Substitute(attestor, new { logs = new { data = new { url = "https://rekor.internal" } } }));
        Assert.Equal("rekor.url {{ logs.data.url }} gave no usable attestor (rekor.url https://rekor.internal is not https://rekor.sigstore.dev, and a private Rekor needs rekor.pubkey)", other.Reason);
    }

    [Theory]
    [InlineData("""
        keys:
                      secret: {name: cosign, namespace: kyverno}
                      rekor:
                        url: "{{ logs.data.url }}"
                        pubkey: not a key
        """, "PC0006", "rekor.pubkey", 25, 25)]
    [InlineData("""
        keys:
                      kms: "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"
                      rekor:
                        url: rekor.internal
                        pubkey: "{{ logs.data.rekor }}"
        """, "PC0015", "Rekor URL", 24, 22)]
    [InlineData("""
        keys:
                      publicKeys: "{{ logs.data.key }}"
                      rekor:
                        url: https://rekor.internal
                      ctlog:
                        tsaCertChain: "{{ logs.data.tsa }}"
        """, "PC0021", "https://rekor.internal", 24, 22)]
    [InlineData("""
        keys:
                      secret: {name: cosign, namespace: kyverno}
                      rekor:
                        pubkey: "{{ logs.data.rekor }}"
                      ctlog:
                        tsaCertChain: not a certificate
        """, "PC0018", "ctlog.tsaCertChain", 26, 31)]
    public void Literal_log_values_next_to_variables_of_keys_read_at_admission_are_still_checked_at_build_time(string keys, string id, string message, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy(keys));

        var diagnostic = run.Single(id);
        DiagnosticAssert.MessageContains(diagnostic, message);
        DiagnosticAssert.At(diagnostic, File, line, column);
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.Id == "PC0099");
    }

    [Fact]
    public void Bad_variable_in_rekor_pubkey_is_a_build_error_at_its_column()
    {
        var diagnostic = GeneratorHarness.Run("policy.yaml", Policy("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          rekor:
                            pubkey: "{{ logs.data.[ }}"
            """)).Single("PC0023");

        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless.rekor.pubkey' has an invalid variable");
        DiagnosticAssert.At(diagnostic, File, 25, 41);
    }

    [Fact]
    public void Literal_log_values_next_to_variables_are_still_checked_at_build_time()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
            keyless:
                          subject: alice@example.com
                          issuer: https://accounts.example.com
                          rekor:
                            url: "{{ logs.data.url }}"
                            pubkey: not a key
            """));

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "rekor.pubkey");
        DiagnosticAssert.At(diagnostic, File, 26, 25);
    }
}

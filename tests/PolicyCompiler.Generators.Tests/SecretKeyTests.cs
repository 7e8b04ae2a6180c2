using System.Security.Cryptography;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary><c>keys.secret</c> and <c>publicKeys: k8s://namespace/name</c> compile to attestors that read the key at verification time.</summary>
public sealed class SecretKeyTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string keys) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: secret-key
        spec:
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["ghcr.io/*"]
                attestors:
                - entries:
                  - keys:
        {{keys}}
                      rekor: {ignoreTlog: true}
        """;

    private static SecretKeyAttestorDefinition Attestor(string keys)
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy(keys))));
        var set = Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors);
        return Assert.IsType<SecretKeyAttestorDefinition>(Assert.Single(set.Entries));
    }

    [Fact]
    public void Secret_reference_compiles_to_an_attestor_that_reads_it()
    {
        var attestor = Attestor("""
                          secret:
                            name: cosign-public-key
                            namespace: kyverno
                          signatureAlgorithm: sha384
            """);

        Assert.Equal(("kyverno", "cosign-public-key"), (attestor.Namespace, attestor.Name));
        Assert.Equal(HashAlgorithmName.SHA384, attestor.Hash);
        Assert.Equal(".attestors[0].entries[0].keys", attestor.Path);
    }

    [Fact]
    public void Cosign_k8s_key_reference_in_public_keys_reads_the_same_secret()
    {
        var attestor = Attestor("""
                          publicKeys: "k8s://kyverno/cosign-public-key"
            """);

        Assert.Equal(("kyverno", "cosign-public-key"), (attestor.Namespace, attestor.Name));
        Assert.Equal(HashAlgorithmName.SHA256, attestor.Hash);
    }

    [Fact]
    public void Secret_without_namespace_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                          secret:
                            name: cosign-public-key
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0004"), "keys.secret requires 'namespace'");
    }

    [Fact]
    public void Malformed_k8s_reference_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                          publicKeys: "k8s://kyverno"
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0015"), "write k8s://<namespace>/<name>");
    }

    [Fact]
    public void Both_a_static_key_and_a_secret_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                          publicKeys: "k8s://kyverno/a"
                          secret:
                            name: b
                            namespace: kyverno
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0020"), "both publicKeys and secret");
    }
}

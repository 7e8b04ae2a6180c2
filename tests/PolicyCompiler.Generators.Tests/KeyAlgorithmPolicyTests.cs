using System.Security.Cryptography;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>Ed25519 keys and <c>signatureAlgorithm: sha224</c> compile into keys the runtime verifies with.</summary>
public sealed class KeyAlgorithmPolicyTests
{
    /// <summary>RFC 8410's example Ed25519 public key.</summary>
    private const string Ed25519Key = """
        -----BEGIN PUBLIC KEY-----
        MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
        -----END PUBLIC KEY-----
        """;

    private static string Policy(string pem, string? signatureAlgorithm = null) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: key-algorithms
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
                      publicKeys: |-
        {{string.Join("\n", pem.Split('\n').Select(l => "                " + l))}}
        {{(signatureAlgorithm is null ? string.Empty : "              signatureAlgorithm: " + signatureAlgorithm)}}
                      rekor: {ignoreTlog: true}
        """;

    private static VerificationKey CompiledKey(string yaml)
    {
        var policy = Assert.Single(Load(("policy.yaml", yaml)));
        var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries));
        return Assert.IsType<StaticKeySigner>(attestor.Signer).Key;
    }

    [Fact]
    public void An_Ed25519_key_compiles()
    {
        var key = CompiledKey(Policy(Ed25519Key));

        Assert.Equal(KeyAlgorithm.Ed25519, key.Algorithm);
    }

    [Fact]
    public void Sha224_compiles_to_a_key_that_hashes_with_it()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = CompiledKey(Policy(ecdsa.ExportSubjectPublicKeyInfoPem().Trim(), "sha224"));

        Assert.Equal("SHA224", key.Hash.Name);
    }

    [Fact]
    public void An_Ed25519_key_with_parameters_is_a_build_error()
    {
        // The algorithm identifier carries a NULL parameter, which RFC 8410 forbids.
        const string WithParameters = """
            -----BEGIN PUBLIC KEY-----
            MCwwBwYDK2VwBQADIQAZv0QJaYTN/oVBusFn3DuWyFCGqjC2tssMXDitcDFm4Q==
            -----END PUBLIC KEY-----
            """;

        var run = GeneratorHarness.Run("policy.yaml", Policy(WithParameters));

        DiagnosticAssert.MessageContains(run.Single("PC0006"), "RFC 8410 allows no parameters");
    }
}

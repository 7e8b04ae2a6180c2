using System.Security.Cryptography;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// Ed25519 keys and <c>signatureAlgorithm: sha224</c> compile into keys the runtime verifies with; an attestor entry's own
/// <c>signatureAlgorithm</c> is accepted with no effect, as in Kyverno, unless it contradicts the keys' algorithm.
/// </summary>
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

    // An entry's own signatureAlgorithm (line 17, value at column 33), beside keys or keyless (line 19 on).
    private static string EntryPolicy(string entryHash, string attestor) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: entry-algorithm
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
                  - repository: ghcr.io/org/signatures
                    signatureAlgorithm: {{entryHash}}
        {{attestor}}
        """;

    private static string Keys(string pem, string? keysHash) => $$"""
                    keys:
                      publicKeys: |-
        {{string.Join("\n", pem.Split('\n').Select(l => "                  " + l))}}
        {{(keysHash is null ? string.Empty : "              signatureAlgorithm: " + keysHash)}}
                      rekor: {ignoreTlog: true}
        """;

    [Theory]
    [InlineData("sha256", null, "SHA256")]
    [InlineData("sha384", "sha384", "SHA384")]
    public void An_entry_signatureAlgorithm_that_agrees_with_keys_compiles_and_keys_decide(string entryHash, string? keysHash, string expected)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var yaml = EntryPolicy(entryHash, Keys(ecdsa.ExportSubjectPublicKeyInfoPem().Trim(), keysHash));

        Assert.Empty(GeneratorHarness.Run("policy.yaml", yaml).GeneratorDiagnostics);
        Assert.Equal(expected, CompiledKey(yaml).Hash.Name);
    }

    [Theory]
    [InlineData(null, "keys without signatureAlgorithm (sha256)")]
    [InlineData("sha384", "keys.signatureAlgorithm: sha384")]
    public void An_entry_signatureAlgorithm_that_keys_would_override_is_PC0024(string? keysHash, string used)
    {
        // Kyverno overwrites the entry's algorithm with keys.signatureAlgorithm: sha512 here would never be used.
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var run = GeneratorHarness.Run("policy.yaml", EntryPolicy("sha512", Keys(ecdsa.ExportSubjectPublicKeyInfoPem().Trim(), keysHash)));

        var diagnostic = run.Single("PC0024");
        Assert.Equal(
            $"'signatureAlgorithm: sha512' cannot be combined with '{used}': Kyverno verifies a keys entry with keys.signatureAlgorithm and ignores the entry's own; write signatureAlgorithm: sha512 under keys.",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        DiagnosticAssert.At(diagnostic, GeneratorHarness.PolicyDirectory + "policy.yaml", 17, 33);
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.Id is "PC0099" or "PC0002");
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void An_entry_signatureAlgorithm_beside_keyless_is_accepted_and_changes_nothing()
    {
        const string Keyless = """
                            keyless:
                              subject: "https://github.com/org/repo/*"
                              issuer: https://token.actions.githubusercontent.com
                """;

        var run = GeneratorHarness.Run("policy.yaml", EntryPolicy("sha512", Keyless));

        Assert.Empty(run.GeneratorDiagnostics);
        var policy = Assert.Single(Load(("policy.yaml", EntryPolicy("sha512", Keyless))));
        var entry = Assert.IsAssignableFrom<SignatureAttestorDefinition>(Assert.Single(Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors).Entries));
        Assert.Equal(".attestors[0].entries[0].keyless", entry.Path);
        Assert.Equal("ghcr.io/org/signatures", entry.Repository);
    }

    [Fact]
    public void An_entry_signatureAlgorithm_outside_the_four_hashes_is_PC0010()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var run = GeneratorHarness.Run("policy.yaml", EntryPolicy("sha1", Keys(ecdsa.ExportSubjectPublicKeyInfoPem().Trim(), null)));

        var diagnostic = run.Single("PC0010");
        DiagnosticAssert.MessageContains(diagnostic, "'sha1' is not a valid value for 'signatureAlgorithm'. Use one of: sha224, sha256, sha384, sha512.");
        DiagnosticAssert.At(diagnostic, GeneratorHarness.PolicyDirectory + "policy.yaml", 17, 33);
    }
}

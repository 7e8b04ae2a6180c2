using System.Security.Cryptography;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary><c>keys.kms</c> and KMS URIs in <c>publicKeys</c> compile to attestors that fetch the key at verification time.</summary>
public sealed class KmsKeyTests
{
    private static string Policy(string keys) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: kms-key
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

    private static KmsKeyAttestorDefinition Attestor(string keys)
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy(keys))));
        var set = Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestors);
        return Assert.IsType<KmsKeyAttestorDefinition>(Assert.Single(set.Entries));
    }

    [Theory]
    [InlineData("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("awskms://localhost:4566/alias/release-signer")]
    [InlineData("awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/release-signer")]
    [InlineData("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k")]
    [InlineData("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3")]
    [InlineData("gcpkms://projects/omni-163105/locations/asia-south1/keyRings/first-ring/cryptoKeys/jerry/versions/1")]
    [InlineData("hashivault://release-signer")]
    [InlineData("azurekms://release.vault.azure.net/signer")]
    [InlineData("azurekms://release.vault.azure.net/signer/0123456789abcdef")]
    public void Kms_reference_compiles_to_an_attestor_that_fetches_it(string reference)
    {
        var attestor = Attestor($"""
                          kms: "{reference}"
            """);

        Assert.Equal(reference, attestor.Reference);
        Assert.Equal(HashAlgorithmName.SHA256, attestor.Hash);
        Assert.Equal(".attestors[0].entries[0].keys", attestor.Path);
        Assert.True(attestor.Requirements.Tlog.IgnoreTlog);
    }

    [Fact]
    public void Kms_uri_in_public_keys_is_a_kms_key_with_the_policys_hash()
    {
        var attestor = Attestor("""
                          publicKeys: "hashivault://release-signer"
                          signatureAlgorithm: sha512
            """);

        Assert.Equal("hashivault://release-signer", attestor.Reference);
        Assert.Equal(HashAlgorithmName.SHA512, attestor.Hash);
    }

    [Fact]
    public void Generated_code_names_the_reference()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                          kms: "awskms:///alias/release-signer"
            """));

        run.AssertClean();
        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("new KmsKeyAttestorDefinition(\".attestors[0].entries[0].keys\", \"awskms:///alias/release-signer\", HashAlgorithmName.SHA256", source, StringComparison.Ordinal);
    }
}

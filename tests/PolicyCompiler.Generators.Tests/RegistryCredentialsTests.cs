using PolicyCompiler.Generators.Tests.Infrastructure;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary><c>verifyImages[].imageRegistryCredentials</c> compiled; cloud <c>providers</c> are reported as not built.</summary>
public sealed class RegistryCredentialsTests
{
    private static string Policy(string credentials) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: private-registry
        spec:
          rules:
            - name: check-image
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["registry.internal/*"]
                mutateDigest: false
                verifyDigest: true
                imageRegistryCredentials:
        {{credentials}}
        """;

    [Fact]
    public void Secrets_and_allow_insecure_compile_onto_the_entry()
    {
        var entry = Assert.Single(Assert.Single(Load(("policy.yaml", Policy("""
                      allowInsecureRegistry: true
                      secrets: [regcred, mirror-creds]
            """)))).Rules[0].VerifyImages);

        Assert.True(entry.RegistryCredentials!.AllowInsecure);
        Assert.Equal(new[] { "regcred", "mirror-creds" }, entry.RegistryCredentials.Secrets.ToArray());
    }

    [Fact]
    public void Providers_are_not_supported_yet()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      providers: [amazon]
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0099"), "'spec.rules[0].verifyImages[0].imageRegistryCredentials.providers'");
    }

    [Fact]
    public void Secret_names_must_be_kubernetes_names()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      secrets: ["Reg_Cred"]
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0015"), "'Reg_Cred' is not a valid Secret name");
    }
}

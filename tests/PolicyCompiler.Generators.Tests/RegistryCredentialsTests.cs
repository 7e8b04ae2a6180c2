using PolicyCompiler.Generators.Tests.Infrastructure;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary><c>verifyImages[].imageRegistryCredentials</c> compiled; cloud <c>providers</c>.</summary>
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
    public void Default_amazon_and_google_providers_compile_onto_the_entry_in_order()
    {
        var entry = Assert.Single(Assert.Single(Load(("policy.yaml", Policy("""
                      providers: [amazon, google, default, amazon]
            """)))).Rules[0].VerifyImages);

        Assert.Equal(new[] { "amazon", "google", "default" }, entry.RegistryCredentials!.Providers.ToArray());
        Assert.Empty(entry.RegistryCredentials.Secrets);
    }

    [Fact]
    public void Azure_and_github_providers_compile_without_diagnostics()
    {
        GeneratorHarness.Run("policy.yaml", Policy("""
                      providers: [default, azure, github]
            """)).AssertClean();

        var entry = Assert.Single(Assert.Single(Load(("policy.yaml", Policy("""
                      providers: [github, azure, github]
            """)))).Rules[0].VerifyImages);
        Assert.Equal(new[] { "github", "azure" }, entry.RegistryCredentials!.Providers.ToArray());
    }

    [Fact]
    public void Unknown_provider_is_an_invalid_value()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      providers: [aws]
            """));

        DiagnosticAssert.MessageContains(run.Single("PC0010"), "'aws' is not a valid value for 'imageRegistryCredentials.providers'. Use one of: default, amazon, azure, google, github.");
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

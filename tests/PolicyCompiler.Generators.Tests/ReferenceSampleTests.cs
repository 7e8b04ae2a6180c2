using PolicyCompiler.Generators.Tests.Infrastructure;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The sample policies of Kyverno's "Verify Images" page (TestData/reference-samples, see its NOTICE.md): they
/// must build cleanly, except the keyless one, which the page prints with a YAML syntax error.
/// </summary>
public sealed class ReferenceSampleTests
{
    private const string Folder = "reference-samples";

    [Fact]
    public void First_sample_compiles_without_diagnostics()
    {
        var run = GeneratorHarness.Run("01-check-image.yaml", TestFiles.Read(Folder, "01-check-image.yaml")).AssertClean();

        var source = Assert.Single(run.PolicySources);
        Assert.Equal("CheckImagePolicy.01-check-image.yaml.g.cs", source.Key);
        Assert.Contains("CheckImagePolicy.Definition,", run.Catalog, StringComparison.Ordinal);
    }

    [Fact]
    public void First_sample_with_windows_line_endings_generates_the_same_code()
    {
        var yaml = TestFiles.Read(Folder, "01-check-image.yaml").ReplaceLineEndings("\n");

        var lf = GeneratorHarness.Run("01-check-image.yaml", yaml).AssertClean();
        var crlf = GeneratorHarness.Run("01-check-image.yaml", yaml.Replace("\n", "\r\n", StringComparison.Ordinal)).AssertClean();

        Assert.Equal(lf.Sources, crlf.Sources);
    }

    [Theory]
    [InlineData("01-check-image.yaml")]
    [InlineData("02-attest-code-review.yaml")]
    [InlineData("03-check-image-certificates.yaml")]
    [InlineData("04-check-image-cert-chain.yaml")]
    [InlineData("06-check-image-annotations.yaml")]
    [InlineData("07-signed-task-image.yaml")]
    [InlineData("08-signed-pipeline-bundle.yaml")]
    public void Sample_compiles_without_diagnostics(string file)
    {
        var run = GeneratorHarness.Run(file, TestFiles.Read(Folder, file)).AssertClean();

        Assert.Single(run.PolicySources);
    }

    [Fact]
    public void Certificate_sample_compiles_its_certificate_and_chain()
    {
        var run = GeneratorHarness.Run("03-check-image-certificates.yaml", TestFiles.Read(Folder, "03-check-image-certificates.yaml")).AssertClean();

        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("new CertificateSigner(Certificate0, [Certificate1], HashAlgorithmName.SHA256, ignoreSct: false, ctLogs: null)", source, StringComparison.Ordinal);
        Assert.Contains("TransparencyLogPolicy.TrustedRootLogs", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Annotation_sample_converts_the_deprecated_form_with_its_annotations()
    {
        var run = GeneratorHarness.Run("06-check-image-annotations.yaml", TestFiles.Read(Folder, "06-check-image-annotations.yaml")).AssertClean();

        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("[\"sig\"] = \"original\",", source, StringComparison.Ordinal);
        Assert.Contains("new PublicKeyAttestorDefinition(\".attestors[0].entries[0].keys\", Key0, Requirements0)", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Task_run_sample_compiles_its_status_extractor()
    {
        var run = GeneratorHarness.Run("07-signed-task-image.yaml", TestFiles.Read(Folder, "07-signed-task-image.yaml")).AssertClean();

        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("new ImageExtractorDefinition(\"TaskRun\", \"taskrunstatus\", [\"status\", \"taskSpec\", \"steps\", \"*\"], \"image\", \"name\")", source, StringComparison.Ordinal);
        Assert.Contains("request.KindIs(\"tekton.dev\", \"v1beta1\", \"TaskRun\", \"status\")", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Keyless_sample_as_published_is_invalid_yaml()
    {
        // The page writes `issuer: ""https://accounts.google.com"`: an empty quoted string followed by more text.
        var run = GeneratorHarness.Run("05-check-image-keyless.yaml", TestFiles.Read(Folder, "05-check-image-keyless.yaml"));

        var diagnostic = run.Single("PC0001");
        DiagnosticAssert.MessageContains(diagnostic, "The policy file is not valid YAML");
        DiagnosticAssert.At(diagnostic, GeneratorHarness.PolicyDirectory + "05-check-image-keyless.yaml", 23, 25);
    }

    [Fact]
    public void Keyless_sample_with_the_typo_fixed_compiles_to_a_keyless_signer()
    {
        var yaml = TestFiles.Read(Folder, "05-check-image-keyless.yaml").Replace("issuer: \"\"https://", "issuer: \"https://", StringComparison.Ordinal);

        var run = GeneratorHarness.Run("05-check-image-keyless.yaml", yaml).AssertClean();

        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("new KeylessIdentity(\"*@nirmata.com\", null, \"https://accounts.google.com\", null, null)", source, StringComparison.Ordinal);
        Assert.Contains("ignoreSct: false", source, StringComparison.Ordinal);
    }

    [Fact]
    public void All_samples_in_one_build_compile_the_supported_one_and_refuse_the_others()
    {
        var files = Directory.GetFiles(Path.Combine(TestFiles.TestDataDirectory, Folder), "*.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(8, files.Count);

        // The duplicates also collide as C# classes (CS0101); the build fails on PC0013 either way.
        var run = GeneratorHarness.Run([.. files.Select(f => GeneratorHarness.Policy(Path.GetFileName(f), File.ReadAllText(f)))]);

        // Four samples are all named check-image: the first one by file name wins, the three others are duplicates.
        Assert.Equal(["PC0001", "PC0013", "PC0013", "PC0013"], run.GeneratorDiagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Contains("CheckImagePolicy.01-check-image.yaml.g.cs", run.PolicySources.Select(s => s.Key));
    }
}

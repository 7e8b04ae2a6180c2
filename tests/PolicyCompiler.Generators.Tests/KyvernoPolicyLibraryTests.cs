using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using YamlDotNet.RepresentationModel;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The verifyImages policies of the kyverno/policies library (TestData/kyverno-policies, see its NOTICE.md), as
/// published: every one is built, and each either compiles cleanly or fails with the diagnostic that says why. The
/// compiled attestation conditions then run over predicates shaped as the predicate types publish them, with the
/// verdicts Kyverno gives.
/// </summary>
public sealed class KyvernoPolicyLibraryTests
{
    private const string Folder = "kyverno-policies";

    /// <summary>One expected diagnostic: ID, 1-based line and column, and a part of the message.</summary>
    public sealed record Expected(string Id, int Line, int Column, string MessagePart);

    /// <summary>
    /// Every policy file of the folder (relative path) with the diagnostics its build must report; none means it
    /// compiles without diagnostics. A policy file added to the folder without a row here fails
    /// <see cref="Every_policy_of_the_folder_has_an_expected_outcome"/>.
    /// </summary>
    private static readonly Dictionary<string, Expected[]> s_outcomes = new(StringComparer.Ordinal)
    {
        ["require-vulnerability-scan/require-vulnerability-scan.yaml"] = [],
        ["verify-flux-images/verify-flux-images.yml"] = [],
        ["verify-image/verify-image.yaml"] = [],
        ["verify-image-cve-2022-42889/verify-image-cve-2022-42889.yaml"] = [],
        ["verify-image-gcpkms/verify-image-gcpkms.yaml"] = [],
        ["verify-image-slsa/verify-image-slsa.yaml"] = [],
        ["verify-image-with-multi-keys/verify-image-with-multi-keys.yaml"] = [],
        ["verify-sbom-cyclonedx/verify-sbom-cyclonedx.yaml"] = [],

        // Published with `annotations:` indented by three spaces under `name:`: Kyverno's own CLI cannot load it either.
        ["verify-tekton-image-cosign-signed/verify-tekton-image-cosign-signed.yaml"] =
        [
            new("PC0001", 5, 15, "The policy file is not valid YAML"),
        ],
        ["verify-tekton-pipeline-bundle-signatures/verify-tekton-pipeline-bundle-signatures.yaml"] = [],
        ["verify-tekton-pipeline-cosign-signated-images/verify-tekton-pipelines-cosign-signed-images.yml"] = [],
        ["verify-tekton-pipeline-cosign-signated-images-supply-chain-security/verify-tekton-pipelines-cosign-signed-images.yml"] = [],
        ["verify-tekton-taskrun-signatures/verify-tekton-taskrun-signatures.yaml"] = [],
        ["verify-tekton-taskrun-vuln-scan/verify-tekton-taskrun-vuln-scan.yaml"] = [],
    };

    public static TheoryData<string> PolicyFiles => [.. s_outcomes.Keys.Order(StringComparer.Ordinal)];

    private static string Read(string relativePath) => TestFiles.Read(Folder, relativePath);

    private static PolicyDefinition Compile(string relativePath) =>
        Assert.Single(Load((Path.GetFileName(relativePath), Read(relativePath))));

    private static AttestationDefinition Attestation(string relativePath) =>
        Assert.Single(Assert.Single(Compile(relativePath).Rules[0].VerifyImages).Attestations);

    private static string? Check(AttestationDefinition attestation, string predicate, JmesContext? context = null)
    {
        using var document = JsonDocument.Parse(predicate);
        return attestation.CheckConditions(document.RootElement, null, context ?? JmesContext.Default);
    }

    /// <summary>The container images of the Pods in a multi-document YAML file (the library's test resources).</summary>
    private static List<(string Pod, string Image)> PodImages(string relativePath)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(Read(relativePath)));
        var images = new List<(string, string)>();
        foreach (var document in stream.Documents)
        {
            var pod = (YamlMappingNode)document.RootNode;
            var name = ((YamlScalarNode)((YamlMappingNode)pod["metadata"])["name"]).Value!;
            foreach (YamlMappingNode container in (YamlSequenceNode)((YamlMappingNode)pod["spec"])["containers"])
            {
                images.Add((name, ((YamlScalarNode)container["image"]).Value!));
            }
        }

        return images;
    }

    // ---- every policy builds, or says why not --------------------------------------------------------------------------

    [Fact]
    public void Every_policy_of_the_folder_has_an_expected_outcome()
    {
        var root = Path.Combine(TestFiles.TestDataDirectory, Folder);
        var policies = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains("apiVersion: kyverno.io/v1", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

        Assert.Equal(s_outcomes.Keys.Order(StringComparer.Ordinal), policies);
        Assert.Equal(14, s_outcomes.Count);
        Assert.Equal(13, s_outcomes.Values.Count(e => e.Length == 0));
        Assert.Equal(0, s_outcomes.Values.Count(e => e.Length > 0 && e.All(d => d.Id == "PC0099")));
        Assert.Equal(1, s_outcomes.Values.Count(e => e.Any(d => d.Id == "PC0001")));
    }

    [Theory]
    [MemberData(nameof(PolicyFiles))]
    public void Library_policy_builds_as_expected(string relativePath)
    {
        var name = Path.GetFileName(relativePath);
        var run = GeneratorHarness.Run(name, Read(relativePath));
        var expected = s_outcomes[relativePath];

        if (expected.Length == 0)
        {
            run.AssertClean();
            Assert.Single(run.PolicySources);
            return;
        }

        // A policy file with any error contributes nothing to the binary.
        Assert.Empty(run.PolicySources);
        var actual = run.GeneratorDiagnostics.OrderBy(d => d.Location.GetLineSpan().StartLinePosition).ToList();
        Assert.Equal(expected.Select(e => e.Id), actual.Select(d => d.Id));
        for (var i = 0; i < expected.Length; i++)
        {
            DiagnosticAssert.At(actual[i], GeneratorHarness.PolicyDirectory + name, expected[i].Line, expected[i].Column);
            DiagnosticAssert.MessageContains(actual[i], expected[i].MessagePart);
        }
    }

    // ---- signatures: what the compiled rules cover ----------------------------------------------------------------------

    [Fact]
    public void Verify_image_checks_the_test_images_with_its_key_and_pins_the_digest()
    {
        var rule = Compile("verify-image/verify-image.yaml").Rules[0];
        var entry = Assert.Single(rule.VerifyImages);

        Assert.True(rule.Matches(Request("Pod")));
        Assert.True(entry.MutateDigest);
        Assert.True(entry.Matches(ImageReference.Parse("ghcr.io/kyverno/test-verify-image:signed")));
        Assert.True(entry.Matches(ImageReference.Parse("ghcr.io/kyverno/test-verify-image-other:v1")));
        Assert.False(entry.Matches(ImageReference.Parse("ghcr.io/kyverno/kyverno:v1.11.0")));
        Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(Assert.Single(entry.Attestors).Entries));
    }

    [Fact]
    public void Flux_policy_covers_the_controllers_on_both_registries_with_the_fluxcd_identity()
    {
        var run = GeneratorHarness.Run("verify-flux-images.yml", Read("verify-flux-images/verify-flux-images.yml")).AssertClean();
        Assert.Contains(
            "new KeylessIdentity(\"https://github.com/fluxcd/*\", null, \"https://token.actions.githubusercontent.com\", null, null)",
            Assert.Single(run.PolicySources).Value,
            StringComparison.Ordinal);

        var entry = Assert.Single(Compile("verify-flux-images/verify-flux-images.yml").Rules[0].VerifyImages);
        Assert.False(entry.MutateDigest);
        Assert.True(entry.Matches(ImageReference.Parse("ghcr.io/fluxcd/source-controller:v1.2.4")));
        Assert.True(entry.Matches(ImageReference.Parse("ghcr.io/fluxcd/image-automation-controller:v0.37.1")));

        // A Docker Hub image written without its registry is matched as docker.io/..., as Kyverno normalises it.
        Assert.True(entry.Matches(ImageReference.Parse("fluxcd/helm-controller:v0.37.4")));
        Assert.False(entry.Matches(ImageReference.Parse("ghcr.io/fluxcd/flagger:1.35.0")));
        Assert.False(entry.Matches(ImageReference.Parse("ghcr.io/fluxcd-fork/source-controller:v1.2.4")));
    }

    [Fact]
    public void Tekton_bundle_policies_extract_the_bundle_of_task_and_pipeline_runs()
    {
        var task = GeneratorHarness.Run("verify-tekton-taskrun-signatures.yaml", Read("verify-tekton-taskrun-signatures/verify-tekton-taskrun-signatures.yaml")).AssertClean();
        var pipeline = GeneratorHarness.Run("verify-tekton-pipeline-bundle-signatures.yaml", Read("verify-tekton-pipeline-bundle-signatures/verify-tekton-pipeline-bundle-signatures.yaml")).AssertClean();

        Assert.Contains("new ImageExtractorDefinition(\"TaskRun\", \"taskruns\", [\"spec\", \"taskRef\"], \"bundle\", \"name\")", Assert.Single(task.PolicySources).Value, StringComparison.Ordinal);
        Assert.Contains("new ImageExtractorDefinition(\"PipelineRun\", \"pipelineruns\", [\"spec\", \"pipelineRef\"], \"bundle\", \"name\")", Assert.Single(pipeline.PolicySources).Value, StringComparison.Ordinal);

        var rule = Compile("verify-tekton-pipeline-bundle-signatures/verify-tekton-pipeline-bundle-signatures.yaml").Rules[0];
        Assert.True(rule.Matches(Request("PipelineRun", group: "tekton.dev", version: "v1beta1")));
        Assert.False(rule.Matches(Request("TaskRun", group: "tekton.dev", version: "v1beta1")));
        Assert.True(Assert.Single(rule.VerifyImages).ImageReferences("gcr.io/tekton-releases/catalog/upstream/git-clone:0.9"));
    }

    [Fact]
    public void Tekton_vulnerability_scan_policy_matches_the_task_run_status_subresource()
    {
        var rule = Compile("verify-tekton-taskrun-vuln-scan/verify-tekton-taskrun-vuln-scan.yaml").Rules[0];

        Assert.True(rule.Matches(Request("TaskRun", group: "tekton.dev", version: "v1beta1", subResource: "status")));
        Assert.False(rule.Matches(Request("TaskRun", group: "tekton.dev", version: "v1beta1")));
        Assert.Equal("https://grype.anchore.io/scan", Assert.Single(Assert.Single(rule.VerifyImages).Attestations).PredicateType);
    }

    private static (RuleDefinition Rule, ImageVerificationDefinition Entry) SecretKeyRule(string policy)
    {
        var rule = Compile(policy).Rules[0];
        var entry = Assert.Single(rule.VerifyImages);
        var attestor = Assert.IsType<SecretKeyAttestorDefinition>(Assert.Single(Assert.Single(entry.Attestors).Entries));
        Assert.Equal(("kyverno", "cosign-key-secret"), (attestor.Namespace, attestor.Name));
        Assert.True(rule.Matches(Request("Pod")));
        return (rule, entry);
    }

    [Fact]
    public void Index_docker_io_pattern_covers_both_pods_of_its_kyverno_test()
    {
        // The library's test expects signed-pod to pass and unsigned-pod to fail: both must be judged, with the key read
        // from the Secret (which one passes is the registry's business). The pattern and the Pods both write
        // index.docker.io, which Kyverno leaves as written; matching only the normalised docker.io name would have
        // admitted both Pods unverified.
        var (_, entry) = SecretKeyRule("verify-tekton-pipeline-cosign-signated-images-supply-chain-security/verify-tekton-pipelines-cosign-signed-images.yml");

        var pods = PodImages("verify-tekton-image-cosign-signed/resource.yaml");
        Assert.Equal(["signed-pod", "unsigned-pod"], pods.Select(p => p.Pod));
        Assert.All(pods, p => Assert.True(entry.Matches(ImageReference.Parse(p.Image)), p.Image));
        Assert.False(entry.Matches(ImageReference.Parse("index.docker.io/someone-else/signedimage:latest")));
    }

    [Fact]
    public void The_deprecated_image_form_covers_only_its_own_image()
    {
        // `image: ghcr.io/kyverno/test-verify-image:signed` names one tag. The library's test expects unsigned-pod to
        // fail, but its image (tag unsigned) is outside the rule: Kyverno skips it too, it is never verified.
        var (_, entry) = SecretKeyRule("verify-tekton-pipeline-cosign-signated-images/verify-tekton-pipelines-cosign-signed-images.yml");

        var pods = PodImages("verify-tekton-pipeline-cosign-signated-images/resource.yaml").ToDictionary(p => p.Pod, p => p.Image);
        Assert.True(entry.Matches(ImageReference.Parse(pods["signed-pod"])));
        Assert.False(entry.Matches(ImageReference.Parse(pods["unsigned-pod"])));
    }

    // ---- SLSA provenance: the builder-id regex --------------------------------------------------------------------------

    private const string SlsaGenerator = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

    /// <summary>An SLSA v0.2 provenance predicate (https://slsa.dev/provenance/v0.2) as the container generator writes it.</summary>
    private static string SlsaProvenance(string builderId) => $$$"""
        {
          "builder": {"id": {{{JsonSerializer.Serialize(builderId)}}}},
          "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
          "invocation": {
            "configSource": {
              "uri": "git+https://github.com/org/app@refs/heads/main",
              "digest": {"sha1": "8f3ac2b7c0a5b4c6d2e1f09a8b7c6d5e4f3a2b1c"},
              "entryPoint": ".github/workflows/release.yml"
            },
            "parameters": {},
            "environment": {"github_event_name": "push", "github_run_id": "5081232427"}
          },
          "metadata": {"buildInvocationID": "5081232427-1", "completeness": {"parameters": true, "environment": false, "materials": false}, "reproducible": false},
          "materials": [{"uri": "git+https://github.com/org/app@refs/heads/main", "digest": {"sha1": "8f3ac2b7c0a5b4c6d2e1f09a8b7c6d5e4f3a2b1c"}}]
        }
        """;

    // The condition's text is cut at 120 characters in messages.
    private const string SlsaFailure =
        "conditions[0].all[0] ({{ regex_match('^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.... Equals true) is false";

    [Theory]
    [InlineData(SlsaGenerator + "@refs/tags/v1.9.0", true)]
    [InlineData(SlsaGenerator + "@refs/tags/v2.0.0", true)]
    [InlineData(SlsaGenerator + "@refs/heads/main", false)] // an untagged workflow run
    [InlineData(SlsaGenerator + "@refs/tags/v1.9.0-rc.1", false)] // anchored at the end
    [InlineData(SlsaGenerator + "@refs/tags/v1.10.0", false)] // one digit per part, as the policy's regex is written
    [InlineData("https://github.com/attacker/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0", false)]
    [InlineData("x" + SlsaGenerator + "@refs/tags/v1.9.0", false)] // anchored at the start
    [InlineData(SlsaGenerator + "@refs/tags/v1.9.0\n", false)] // Go's $ is the end of the text, not before a final newline
    public void Slsa_policy_accepts_only_tagged_releases_of_the_official_generator(string builderId, bool admitted)
    {
        var attestation = Attestation("verify-image-slsa/verify-image-slsa.yaml");

        Assert.Equal("https://slsa.dev/provenance/v0.2", attestation.PredicateType);
        Assert.Equal(admitted ? null : SlsaFailure, Check(attestation, SlsaProvenance(builderId)));
    }

    [Fact]
    public void Slsa_policy_denies_provenance_without_a_builder()
    {
        var attestation = Attestation("verify-image-slsa/verify-image-slsa.yaml");

        var failure = Check(attestation, """{"buildType":"https://github.com/slsa-framework/slsa-github-generator/container@v1"}""");

        Assert.NotNull(failure);
        Assert.StartsWith("failed to evaluate the conditions: ", failure, StringComparison.Ordinal);
        Assert.Contains("{{ builder.id}}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Slsa_policy_judges_the_pod_of_its_chainsaw_test()
    {
        // bad.yaml of the library's chainsaw test: the Pod must be refused, so the rule must cover its image.
        var rule = Compile("verify-image-slsa/verify-image-slsa.yaml").Rules[0];
        var (pod, image) = Assert.Single(PodImages("verify-image-slsa/bad.yaml"));

        Assert.Equal("bad-pod", pod);
        Assert.True(rule.Matches(Request("Pod")));
        Assert.True(Assert.Single(rule.VerifyImages).Matches(ImageReference.Parse(image)));
    }

    // ---- vulnerability scans: the age check ---------------------------------------------------------------------------

    /// <summary>A cosign vulnerability predicate (cosign.sigstore.dev/attestation/vuln/v1, cosign's vuln_attestation_specification).</summary>
    private static string VulnerabilityScan(string finishedOn) => $$$"""
        {
          "invocation": {"parameters": null, "uri": "https://github.com/myorg/myrepo/actions/runs/5081232427", "event_id": "5081232427", "builder.id": "github-actions"},
          "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@0.41.0",
            "version": "0.41.0",
            "db": {"uri": "", "version": ""},
            "result": {"SchemaVersion": 2, "ArtifactName": "ghcr.io/myorg/myrepo:v1", "ArtifactType": "container_image", "Results": []}
          },
          "metadata": {"scanStartedOn": "2024-05-01T07:07:51Z", "scanFinishedOn": {{{JsonSerializer.Serialize(finishedOn)}}}}
        }
        """;

    private static JmesContext At(string now) => new(new FixedClock(DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture)));

    private const string AgeFailure = "conditions[0].all[0] ({{ time_since('','{{metadata.scanFinishedOn}}','') }} LessThanOrEquals 168h) is false";

    [Theory]
    [InlineData("2024-05-01T07:08:09Z", "2024-05-01T07:08:09Z", true)] // just finished
    [InlineData("2024-05-01T07:08:09Z", "2024-05-06T07:08:09Z", true)] // five days
    [InlineData("2024-05-01T07:08:09Z", "2024-05-08T07:08:09Z", true)] // exactly 168h: LessThanOrEquals
    [InlineData("2024-05-01T07:08:09Z", "2024-05-08T07:08:10Z", false)] // 168h0m1s
    [InlineData("2024-05-01T07:08:09Z", "2024-06-01T00:00:00Z", false)] // a month
    [InlineData("2024-05-01T09:08:09+02:00", "2024-05-08T07:08:09Z", true)] // an offset is honoured: the same instant, 168h
    [InlineData("2024-05-01T09:08:09+02:00", "2024-05-08T07:08:10Z", false)]
    [InlineData("2024-05-09T00:00:00Z", "2024-05-08T00:00:00Z", true)] // finished "in the future": a negative duration is below 168h, as in Kyverno
    public void Vulnerability_scan_must_be_at_most_a_week_old(string finishedOn, string now, bool admitted)
    {
        var attestation = Attestation("require-vulnerability-scan/require-vulnerability-scan.yaml");

        Assert.Equal("cosign.sigstore.dev/attestation/vuln/v1", attestation.PredicateType);
        Assert.Equal(admitted ? null : AgeFailure, Check(attestation, VulnerabilityScan(finishedOn), At(now)));
    }

    [Theory]
    [InlineData("""{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.41.0"},"metadata":{"scanStartedOn":"2024-05-01T07:07:51Z"}}""", "{{metadata.scanFinishedOn}}")]
    [InlineData("""{"metadata":{"scanFinishedOn":"1 May 2024"}}""", "time_since")]
    public void Vulnerability_scan_without_a_usable_finish_time_is_refused(string predicate, string named)
    {
        var attestation = Attestation("require-vulnerability-scan/require-vulnerability-scan.yaml");

        var failure = Check(attestation, predicate, At("2024-05-02T00:00:00Z"));

        Assert.NotNull(failure);
        Assert.StartsWith("failed to evaluate the conditions: ", failure, StringComparison.Ordinal);
        Assert.Contains(named, failure, StringComparison.Ordinal);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    // ---- CycloneDX SBOMs -------------------------------------------------------------------------------------------

    /// <summary>A CycloneDX 1.4 BOM (https://cyclonedx.org/docs/1.4/json/) with the given library components.</summary>
    private static string CycloneDx(params (string Name, string Version)[] components)
    {
        var list = string.Join(",", components.Select(c =>
            "{\"type\":\"library\",\"group\":\"org.apache.commons\",\"name\":" + JsonSerializer.Serialize(c.Name)
            + ",\"version\":" + JsonSerializer.Serialize(c.Version)
            + ",\"purl\":" + JsonSerializer.Serialize($"pkg:maven/org.apache.commons/{c.Name}@{c.Version}") + "}"));
        return $$$"""
            {
              "bomFormat": "CycloneDX",
              "specVersion": "1.4",
              "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
              "version": 1,
              "metadata": {"timestamp": "2024-05-01T07:08:09Z", "component": {"type": "container", "name": "myreg.org/myrepo/someimage"}},
              "components": [{{{list}}}]
            }
            """;
    }

    private const string CveFailure = "conditions[0].all[0] ({{ components[?name=='commons-text'].version || 'none' }} AllNotIn [1.5, 1.6, 1.7, 1.8, 1.9]) is false";

    public static TheoryData<(string, string)[], bool> CommonsTextCases => new()
    {
        { [("commons-text", "1.9")], false },
        { [("commons-text", "1.5")], false },
        { [("commons-lang3", "3.12.0"), ("commons-text", "1.7")], false },
        { [("commons-text", "1.10.0")], true },
        { [("commons-text", "1.4")], true },
        { [("commons-lang3", "3.12.0")], true }, // no commons-text at all: the key falls back to 'none'
        { [], true },
        { [("commons-text", "1.10.0"), ("commons-text", "1.8")], false }, // any one affected copy is enough
    };

    [Theory]
    [MemberData(nameof(CommonsTextCases))]
    public void Cve_2022_42889_policy_refuses_sboms_with_an_affected_commons_text(
        (string, string)[] components, bool admitted)
    {
        var attestation = Attestation("verify-image-cve-2022-42889/verify-image-cve-2022-42889.yaml");

        Assert.Equal("https://cyclonedx.org/schema", attestation.PredicateType);
        Assert.Equal(admitted ? null : CveFailure, Check(attestation, CycloneDx(components)));
    }

    [Fact]
    public void Sbom_policy_reads_the_bom_under_data()
    {
        // The policy reads Data.bomFormat: a predicate that carries the BOM under "Data" (cosign's generic predicate
        // shape, {"Data": …, "Timestamp": …}). A predicate that is the BOM itself has no Data field, and strict
        // substitution refuses it, as Kyverno does; the CVE policy above reads the BOM at the top. The two library
        // policies therefore expect different shapes of the same predicate type.
        var attestation = Attestation("verify-sbom-cyclonedx/verify-sbom-cyclonedx.yaml");
        var bom = CycloneDx(("commons-text", "1.10.0"));

        Assert.Null(Check(attestation, $$"""{"Data":{{bom}},"Timestamp":"2024-05-01T07:08:09Z"}"""));
        Assert.Equal(
            "conditions[0].all[0] ({{ Data.bomFormat }} Equals CycloneDX) is false",
            Check(attestation, """{"Data":{"bomFormat":"SPDX","spdxVersion":"SPDX-2.3"},"Timestamp":"2024-05-01T07:08:09Z"}"""));

        var unwrapped = Check(attestation, bom);
        Assert.NotNull(unwrapped);
        Assert.StartsWith("failed to evaluate the conditions: ", unwrapped, StringComparison.Ordinal);
        Assert.Contains("{{ Data.bomFormat }}", unwrapped, StringComparison.Ordinal);
    }

    [Fact]
    public void Sbom_policy_compares_the_format_exactly()
    {
        var attestation = Attestation("verify-sbom-cyclonedx/verify-sbom-cyclonedx.yaml");

        // Equals on strings is exact (and wildcard-aware on the value side), not case-insensitive.
        Assert.NotNull(Check(attestation, """{"Data":{"bomFormat":"cyclonedx"}}"""));
        Assert.Null(Check(attestation, """{"Data":{"bomFormat":"CycloneDX"}}"""));
    }

    // ---- Grype scans: the severity threshold ---------------------------------------------------------------------------

    /// <summary>A Grype JSON report (grype -o json), the predicate of https://grype.anchore.io/scan.</summary>
    private static string GrypeReport(string userInput, params double[] impactScores)
    {
        var matches = string.Join(",", impactScores.Select((score, i) => $$$"""
            {
              "vulnerability": {
                "id": "CVE-2024-{{{1000 + i}}}",
                "dataSource": "https://nvd.nist.gov/vuln/detail/CVE-2024-{{{1000 + i}}}",
                "severity": "High",
                "cvss": [{"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "metrics": {"baseScore": 9.8, "exploitabilityScore": 3.9, "impactScore": {{{score.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}}}]
              },
              "artifact": {"name": "git", "version": "2.30.2", "type": "deb"}
            }
            """));
        return $$$"""
            {
              "matches": [{{{matches}}}],
              "source": {"type": "image", "target": {"userInput": {{{JsonSerializer.Serialize(userInput)}}}, "imageID": "sha256:322e3502c1e6fba5f1869efb55cfd998a3679e073840d33eb0e3c482b5d5609b"}},
              "distro": {"name": "debian", "version": "11"},
              "descriptor": {"name": "grype", "version": "0.61.0"}
            }
            """;
    }

    private const string GitInit = "ghcr.io/tap8stry/git-init:v0.21.0@sha256:322e3502c1e6fba5f1869efb55cfd998a3679e073840d33eb0e3c482b5d5609b";

    [Fact]
    public void Grype_policy_as_published_never_counts_a_vulnerability()
    {
        // The filter compares a number with the string '8.0'. JMESPath orders numbers only; a comparison with a string
        // is null, so the filter drops every entry and the count is 0 whatever the scores: Kyverno admits these too.
        var attestation = Attestation("verify-tekton-taskrun-vuln-scan/verify-tekton-taskrun-vuln-scan.yaml");

        Assert.Null(Check(attestation, GrypeReport("ghcr.io/org/other:v1")));
        Assert.Null(Check(attestation, GrypeReport("ghcr.io/org/other:v1", 5.9, 9.5)));
    }

    [Fact]
    public void Grype_policy_with_a_numeric_threshold_counts_high_impact_scores()
    {
        // The same policy with `8.0` as a JSON number, as its description ("no vulnerabilities greater than 8.0") means.
        var yaml = Read("verify-tekton-taskrun-vuln-scan/verify-tekton-taskrun-vuln-scan.yaml").Replace("> '8.0'", "> `8.0`", StringComparison.Ordinal);
        var attestation = Assert.Single(Assert.Single(Assert.Single(Load(("verify-tekton-taskrun-vuln-scan.yaml", yaml))).Rules[0].VerifyImages).Attestations);

        Assert.Null(Check(attestation, GrypeReport("ghcr.io/org/other:v1", 5.9, 8.0)));
        Assert.Null(Check(attestation, GrypeReport(GitInit, 9.5))); // the exempted image
        Assert.Equal(
            "conditions[0].any[0] ({{ matches[].vulnerability[].cvss[?metrics.impactScore > `8.0`][] | length(@) }} Equals 0) is false; "
            + "conditions[0].any[1] ({{ source.target.userInput }} Equals " + GitInit + ") is false",
            Check(attestation, GrypeReport("ghcr.io/org/other:v1", 5.9, 9.5)));
    }

    [Fact]
    public void Grype_policy_refuses_a_predicate_that_is_not_a_grype_report()
    {
        var attestation = Attestation("verify-tekton-taskrun-vuln-scan/verify-tekton-taskrun-vuln-scan.yaml");

        var failure = Check(attestation, """{"bomFormat":"CycloneDX","components":[]}""");

        Assert.NotNull(failure);
        Assert.StartsWith("failed to evaluate the conditions: ", failure, StringComparison.Ordinal);
    }
}

/// <summary>Keyless identities written as regexes compile to Go-semantics patterns (cosign compiles them with Go).</summary>
public sealed class KeylessRegexEmitTests
{
    [Fact]
    public void Subject_and_issuer_regexes_compile_through_go_regex()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: keyless-regex
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/org/*"]
                    attestors:
                    - entries:
                      - keyless:
                          subjectRegExp: "^https://github\\.com/org/.*@refs/tags/v[0-9]+$"
                          issuerRegExp: "^https://token\\.actions\\.githubusercontent\\.com$"
            """).AssertClean();

        var source = Assert.Single(run.PolicySources).Value;
        Assert.Contains("new KeylessIdentity(null, GoRegex.Create(\"^https://github\\\\.com/org/.*@refs/tags/v[0-9]+$\"), null, GoRegex.Create(", source, StringComparison.Ordinal);
        Assert.Contains("using PolicyCompiler.Runtime.Conditions;", source, StringComparison.Ordinal);
        Assert.DoesNotContain("using System.Text.RegularExpressions;", source, StringComparison.Ordinal);
    }
}

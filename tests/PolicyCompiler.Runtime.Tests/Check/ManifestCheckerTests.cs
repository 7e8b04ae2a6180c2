using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Check;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Registry;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Check;

/// <summary>
/// The two passes of a CREATE against a fake registry, with rules that pin and require digests (no signatures, so the
/// verdicts depend only on the digest and the registry's answers).
/// </summary>
public sealed class ManifestCheckerTests
{
    private const string Known = "registry.test/team/app:v1";
    private const string Missing = "registry.test/team/gone:v1";

    private static ManifestChecker Checker(FailureAction action)
    {
        var fake = new FakeRegistryHandler().On(r => IsManifest(r) && r.Uri.AbsolutePath.Contains("/team/app/", StringComparison.Ordinal), _ => FakeRegistryHandler.Ok(Manifest, "application/vnd.oci.image.manifest.v1+json"));
        var client = Client(fake);
        var entry = new ImageVerificationDefinition("verifyImages[0]", image => image.StartsWith("registry.test/team/", StringComparison.Ordinal), [], mutateDigest: true, verifyDigest: true, required: false, repository: null);
        var rule = new RuleDefinition("pin-digest", context => context.Kind == "Pod", [entry]);
        var policy = new PolicyDefinition("pin", null, action, FailurePolicy.Fail, 10, "pin.yaml", [rule]);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions(), TimeProvider.System), TimeProvider.System);
        return new ManifestChecker(new AdmissionEngine([policy], verifier));
    }

    private static ManifestDocument Pod(string image, string? ns = null) =>
        Assert.Single(ManifestReader.Read("pod.yaml", $$"""
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              {{(ns is null ? string.Empty : "namespace: " + ns)}}
            spec:
              containers:
              - name: app
                image: {{image}}
            """));

    [Fact]
    public async Task ThePinnedDigestOfTheMutatingPassSatisfiesVerifyDigestInTheValidatingPass()
    {
        // Without the patch applied between the passes, verifyDigest would deny the tag-only image.
        var report = await Checker(FailureAction.Enforce).CheckAsync(Pod(Known), CancellationToken.None);

        Assert.Equal(RuleOutcomeStatus.Pass, report.Result);
        Assert.Null(report.Message);
        var row = Assert.Single(report.Rows);
        Assert.Equal(("pin", "pin-digest", Known, RuleOutcomeStatus.Pass), (row.Policy, row.Rule, row.Image, row.Status));
        Assert.Equal("Pod/default/web", report.Resource);
    }

    [Fact]
    public async Task AnImageTheRegistryDoesNotHaveIsDeniedUnderEnforce()
    {
        var report = await Checker(FailureAction.Enforce).CheckAsync(Pod(Missing, "team-a"), CancellationToken.None);

        Assert.Equal(RuleOutcomeStatus.Fail, report.Result);
        var row = Assert.Single(report.Rows);
        Assert.Equal(RuleOutcomeStatus.Fail, row.Status);
        Assert.Contains(Missing, row.Message, StringComparison.Ordinal);
        Assert.StartsWith("\n\nresource Pod/team-a/web was blocked due to the following policies \n\n", report.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSameFailureUnderAuditIsAWarningAndTheResourceIsAdmitted()
    {
        var report = await Checker(FailureAction.Audit).CheckAsync(Pod(Missing), CancellationToken.None);

        Assert.Equal(RuleOutcomeStatus.Warn, report.Result);
        Assert.Null(report.Message);
        Assert.Equal(RuleOutcomeStatus.Warn, Assert.Single(report.Rows).Status);
        Assert.Contains(report.Warnings, w => w.StartsWith("policy pin.pin-digest: ", StringComparison.Ordinal));
        Assert.Equal(CheckReport.ExitAllowed, new CheckReport([report], []).ExitCode);
    }

    [Fact]
    public async Task AnObjectNoRuleMatchesIsSkippedWithoutRows()
    {
        var configMap = Assert.Single(ManifestReader.Read("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"));

        var report = await Checker(FailureAction.Enforce).CheckAsync(configMap, CancellationToken.None);

        Assert.Equal(RuleOutcomeStatus.Skip, report.Result);
        Assert.Empty(report.Rows);
    }

    [Fact]
    public async Task APodWhoseImagesTheRuleDoesNotNameHasASkipRowForTheRule()
    {
        var report = await Checker(FailureAction.Enforce).CheckAsync(Pod("docker.io/library/nginx:1"), CancellationToken.None);

        Assert.Equal(RuleOutcomeStatus.Skip, report.Result);
        var row = Assert.Single(report.Rows);
        Assert.Null(row.Image);
        Assert.Equal(RuleOutcomeStatus.Skip, row.Status);
    }

    [Fact]
    public async Task TheTableListsJudgedResourcesAndCountsTheRest()
    {
        var checker = Checker(FailureAction.Enforce);
        var reports = new List<ResourceReport>
        {
            await checker.CheckAsync(Pod(Known), CancellationToken.None),
            await checker.CheckAsync(Pod(Missing, "prod"), CancellationToken.None),
            await checker.CheckAsync(Assert.Single(ManifestReader.Read("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")), CancellationToken.None),
            // A skip row (the rule names no image of this Pod) is reported in JSON, not in the table.
            await checker.CheckAsync(Pod("docker.io/library/nginx:1", "other"), CancellationToken.None),
        };
        var report = new CheckReport(reports, []);
        var table = new StringWriter { NewLine = "\n" };

        report.WriteTable(table);

        var lines = table.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.DoesNotContain(lines, l => l.Contains("nginx", StringComparison.Ordinal));
        Assert.Matches(@"^RESOURCE\s+POLICY\s+RULE\s+IMAGE\s+RESULT\s+MESSAGE$", lines[0]);
        Assert.Matches(@"^Pod/default/web\s+pin\s+pin-digest\s+registry\.test/team/app:v1\s+pass\s+", lines[1]);
        Assert.Matches(@"^Pod/prod/web\s+pin\s+pin-digest\s+registry\.test/team/gone:v1\s+fail\s+.*gone", lines[2]);
        // Columns line up: RESULT starts at the same offset on every row.
        Assert.Equal(lines[0].IndexOf("RESULT", StringComparison.Ordinal), lines[1].IndexOf(" pass ", StringComparison.Ordinal) + 1);
        Assert.Equal("4 resources: 1 passed, 1 failed, 0 warned, 2 skipped (no rule applies)", lines[3]);
        Assert.Equal(CheckReport.ExitDenied, report.ExitCode);
    }

    [Fact]
    public async Task JsonListsEveryResourceAndEveryInputError()
    {
        var checker = Checker(FailureAction.Enforce);
        var broken = ManifestReader.Read("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n");
        var report = new CheckReport([await checker.CheckAsync(Pod(Known), CancellationToken.None)], broken);
        using var stream = new MemoryStream();

        report.WriteJson(stream);

        using var json = JsonDocument.Parse(stream.ToArray());
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("summary").GetProperty("exitCode").GetInt32());
        Assert.Equal(1, root.GetProperty("summary").GetProperty("pass").GetInt32());
        var resource = Assert.Single(root.GetProperty("resources").EnumerateArray());
        Assert.Equal("pass", resource.GetProperty("result").GetString());
        Assert.Equal("pod.yaml", resource.GetProperty("source").GetString());
        var rule = Assert.Single(resource.GetProperty("rules").EnumerateArray());
        Assert.Equal(Known, rule.GetProperty("image").GetString());
        var error = Assert.Single(root.GetProperty("errors").EnumerateArray());
        Assert.Equal("bad.yaml", error.GetProperty("source").GetString());
        Assert.Equal(1, error.GetProperty("document").GetInt32());
        Assert.StartsWith("invalid YAML", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(CheckReport.ExitInputError, report.ExitCode);
    }
}

using System.Text.Json;
using System.Text.RegularExpressions;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>policy-compiler check</c>: the published binary judges manifests written here against the fixture's registry
/// (signed, unsigned and other-key images) with the end-to-end policies compiled into it, as the webhook would.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class CheckCommandTests(WebhookFixture fixture) : IDisposable
{
    private readonly TempDirectory _work = new("check");

    public void Dispose() => _work.Dispose();

    private Task<ProcessResult> CheckAsync(string[] arguments, string? standardInput = null) =>
        ProcessRunner.RunAsync(
            fixture.Published.Executable,
            ["check", $"--Registry:InsecureRegistries:0={fixture.Registry.Host}", .. arguments],
            TimeSpan.FromSeconds(90),
            workingDirectory: _work.Path,
            standardInput: standardInput);

    /// <summary>Standard output alone; the captured log prefixes each line with its stream.</summary>
    private static string Stdout(ProcessResult result) =>
        string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("out| ", StringComparison.Ordinal)).Select(l => l["out| ".Length..]));

    private static string Stderr(ProcessResult result) =>
        string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("err| ", StringComparison.Ordinal)).Select(l => l["err| ".Length..]));

    private string Write(string relativePath, string content)
    {
        var path = _work.Combine(relativePath.Split('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private static string Pod(string name, string image) => $"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {name}
        spec:
          containers:
          - name: app
            image: {image}

        """;

    private static string Deployment(string name, string image) => $$"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{name}}
          namespace: shop
        spec:
          selector:
            matchLabels: {app: {{name}}}
          template:
            metadata:
              labels: {app: {{name}}}
            spec:
              containers:
              - name: app
                image: {{image}}

        """;

    private const string ConfigMap = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
        data:
          mode: strict

        """;

    /// <summary>The table row of <paramref name="resource"/> for <paramref name="rule"/>, or a failure naming the whole output.</summary>
    private static string Row(ProcessResult result, string resource, string rule, string image)
    {
        var pattern = new Regex($@"^{Regex.Escape(resource)}\s+{Regex.Escape(WebhookFixture.PolicyName)}\s+{Regex.Escape(rule)}\s+{Regex.Escape(image)}\s+(pass|fail|warn|skip)\b.*$", RegexOptions.Multiline);
        var match = pattern.Match(Stdout(result));
        Assert.True(match.Success, $"no row for {resource} {rule} {image} in:\n{result.Output}");
        return match.Value;
    }

    private static string ResultOf(string row) => Regex.Match(row, @"\s(pass|fail|warn|skip)\s").Groups[1].Value;

    [Fact]
    public async Task ASignedImagePassesWithExitCodeZero()
    {
        var file = Write("signed.yaml", Pod("signed", fixture.SignedImage.TagReference));

        var result = await CheckAsync([file]);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/signed", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.Contains("1 resource: 1 passed, 0 failed, 0 warned, 0 skipped", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnsignedImageFailsWithExitCodeOneAndKyvernosReason()
    {
        var file = Write("unsigned.yaml", Pod("unsigned", fixture.UnsignedImage.TagReference));

        var result = await CheckAsync([file]);

        Assert.True(result.ExitCode == 1, result.Output);
        var row = Row(result, "Pod/default/unsigned", WebhookFixture.RuleName, fixture.UnsignedImage.TagReference);
        Assert.Equal("fail", ResultOf(row));
        Assert.Contains($"image verification failed for {fixture.UnsignedImage.TagReference}", row, StringComparison.Ordinal);
        Assert.Contains("signature not found", row, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMultiDocumentFileIsJudgedObjectByObjectWithTheAutogenRuleForTheDeployment()
    {
        var file = Write("app.yaml", "---\n" + Deployment("web", fixture.SignedImage.TagReference) + "---\n" + Pod("debug", fixture.OtherKeyImage.TagReference) + "---\n" + ConfigMap);

        var result = await CheckAsync([file]);

        Assert.True(result.ExitCode == 1, result.Output);
        Assert.Equal("pass", ResultOf(Row(result, "Deployment/shop/web", "autogen-" + WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        var pod = Row(result, "Pod/default/debug", WebhookFixture.RuleName, fixture.OtherKeyImage.TagReference);
        Assert.Equal("fail", ResultOf(pod));
        Assert.Contains("invalid signature", pod, StringComparison.Ordinal);
        // The ConfigMap is counted, not listed.
        Assert.DoesNotContain("ConfigMap/", Stdout(result), StringComparison.Ordinal);
        Assert.Contains("3 resources: 1 passed, 1 failed, 0 warned, 1 skipped", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFolderIsSearchedRecursivelyForYamlYmlAndJsonOnly()
    {
        var folder = _work.CreateSubdirectory("repo");
        Write("repo/apps/signed.yaml", Pod("from-yaml", fixture.SignedImage.TagReference));
        Write("repo/apps/nested/deeper/other.yml", Pod("from-yml", fixture.OtherKeyImage.TagReference));
        Write("repo/pod.json", """{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "from-json"}, "spec": {"containers": [{"name": "app", "image": """ + JsonSerializer.Serialize(fixture.SignedImage.TagReference) + "}]}}");
        // Not a manifest extension: a folder's README or notes are not read, even when they look like YAML.
        Write("repo/notes.txt", Pod("from-txt", fixture.UnsignedImage.TagReference));

        var result = await CheckAsync([folder]);

        Assert.True(result.ExitCode == 1, result.Output);
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/from-yaml", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.Equal("fail", ResultOf(Row(result, "Pod/default/from-yml", WebhookFixture.RuleName, fixture.OtherKeyImage.TagReference)));
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/from-json", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.DoesNotContain("from-txt", result.Output, StringComparison.Ordinal);
        Assert.Contains("3 resources: 2 passed, 1 failed", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandardInputIsReadForADash()
    {
        var result = await CheckAsync(["-"], standardInput: Pod("piped", fixture.SignedImage.TagReference) + "---\n" + Pod("piped-unsigned", fixture.UnsignedImage.TagReference));

        Assert.True(result.ExitCode == 1, result.Output);
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/piped", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.Equal("fail", ResultOf(Row(result, "Pod/default/piped-unsigned", WebhookFixture.RuleName, fixture.UnsignedImage.TagReference)));
    }

    [Fact]
    public async Task JsonOutputHasEveryResourceWithItsRulesAndTheDenialMessage()
    {
        var file = Write("mixed.yaml", Pod("good", fixture.SignedImage.TagReference) + "---\n" + Pod("bad", fixture.UnsignedImage.TagReference) + "---\n" + ConfigMap);

        var result = await CheckAsync(["--output", "json", file]);

        Assert.True(result.ExitCode == 1, result.Output);
        using var json = JsonDocument.Parse(Stdout(result));
        var summary = json.RootElement.GetProperty("summary");
        Assert.Equal((3, 1, 1, 1, 0, 1), (summary.GetProperty("resources").GetInt32(), summary.GetProperty("pass").GetInt32(), summary.GetProperty("fail").GetInt32(), summary.GetProperty("skip").GetInt32(), summary.GetProperty("errors").GetInt32(), summary.GetProperty("exitCode").GetInt32()));
        var resources = json.RootElement.GetProperty("resources").EnumerateArray().ToDictionary(r => r.GetProperty("resource").GetString()!);
        Assert.Equal(["Pod/default/good", "Pod/default/bad", "ConfigMap/default/settings"], resources.Keys);

        var good = resources["Pod/default/good"];
        Assert.Equal("pass", good.GetProperty("result").GetString());
        Assert.Equal(JsonValueKind.Null, good.GetProperty("message").ValueKind);
        Assert.Equal((file, 1, 1), (good.GetProperty("source").GetString(), good.GetProperty("document").GetInt32(), good.GetProperty("line").GetInt32()));
        // Every Pod policy matched; the rules of the others name no image of this Pod and are reported as skipped.
        var goodRule = Assert.Single(good.GetProperty("rules").EnumerateArray(), r => r.GetProperty("result").GetString() != "skip");
        Assert.Contains(good.GetProperty("rules").EnumerateArray(), r => r.GetProperty("policy").GetString() == WebhookFixture.TlogPolicyName && r.GetProperty("result").GetString() == "skip");
        Assert.Equal((WebhookFixture.PolicyName, WebhookFixture.RuleName, fixture.SignedImage.TagReference, "pass"), (goodRule.GetProperty("policy").GetString(), goodRule.GetProperty("rule").GetString(), goodRule.GetProperty("image").GetString(), goodRule.GetProperty("result").GetString()));

        var bad = resources["Pod/default/bad"];
        Assert.Equal("fail", bad.GetProperty("result").GetString());
        Assert.Equal(2, bad.GetProperty("document").GetInt32());
        Assert.StartsWith("\n\nresource Pod/default/bad was blocked due to the following policies \n\n", bad.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("signature not found", Assert.Single(bad.GetProperty("rules").EnumerateArray(), r => r.GetProperty("result").GetString() == "fail").GetProperty("message").GetString(), StringComparison.Ordinal);

        var skipped = resources["ConfigMap/default/settings"];
        Assert.Equal("skip", skipped.GetProperty("result").GetString());
        Assert.Equal(0, skipped.GetProperty("rules").GetArrayLength());
    }

    [Fact]
    public async Task MalformedYamlExitsWithTwoNamingTheFileAndDocumentAndTheOtherDocumentsAreStillReported()
    {
        var broken = Write("broken.yaml", Pod("first", fixture.SignedImage.TagReference) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: \"oops\n---\n" + Pod("third", fixture.UnsignedImage.TagReference));
        var fine = Write("fine.yaml", Pod("elsewhere", fixture.SignedImage.TagReference));

        var result = await CheckAsync([broken, fine]);

        Assert.True(result.ExitCode == 2, result.Output);
        Assert.Matches($@"error: {Regex.Escape(broken)} \(document 2, line 10\): invalid YAML", Stderr(result));
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/first", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.Equal("fail", ResultOf(Row(result, "Pod/default/third", WebhookFixture.RuleName, fixture.UnsignedImage.TagReference)));
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/elsewhere", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
        Assert.Contains("3 resources: 2 passed, 1 failed, 0 warned, 0 skipped (no rule applies); 1 input error", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingFileIsAnInputErrorAndTheOtherInputsAreStillChecked()
    {
        var fine = Write("fine.yaml", Pod("present", fixture.SignedImage.TagReference));
        var missing = _work.Combine("does-not-exist.yaml");

        var result = await CheckAsync([missing, fine]);

        Assert.True(result.ExitCode == 2, result.Output);
        Assert.Contains($"error: {missing}: cannot read", Stderr(result), StringComparison.Ordinal);
        Assert.Equal("pass", ResultOf(Row(result, "Pod/default/present", WebhookFixture.RuleName, fixture.SignedImage.TagReference)));
    }

    [Fact]
    public async Task HelpDescribesTheCommandAndUsageErrorsExitWithTwo()
    {
        var help = await CheckAsync(["--help"]);
        var unknown = await CheckAsync(["--outptu", "json", "x.yaml"]);
        var noInput = await CheckAsync([]);
        var badFormat = await CheckAsync(["--output", "xml", "x.yaml"]);

        Assert.True(help.ExitCode == 0, help.Output);
        Assert.Contains("Usage: policy-compiler check [options] <file|folder|->", Stdout(help), StringComparison.Ordinal);
        Assert.Contains("Exit codes: 0", Stdout(help), StringComparison.Ordinal);
        Assert.Equal((2, 2, 2), (unknown.ExitCode, noInput.ExitCode, badFormat.ExitCode));
        Assert.Contains("unknown option --outptu", Stderr(unknown), StringComparison.Ordinal);
        Assert.Contains("no manifests given", Stderr(noInput), StringComparison.Ordinal);
        Assert.Contains("--output takes table or json, not 'xml'", Stderr(badFormat), StringComparison.Ordinal);
    }
}

namespace PolicyCompiler.Fuzz;

/// <summary>
/// The cheap half of the fuzzing (issue 9), run with every <c>dotnet test</c>: every checked-in corpus file (the seeds
/// and the inputs the fuzzer found, crashes included once fixed) goes through every target's harness, and none may
/// crash as <see cref="FuzzTargets"/> defines it. Files of other targets are fed too: a YAML policy is a fine JMESPath
/// mutant and a bundle a fine AdmissionReview mutant.
/// </summary>
public sealed class CorpusReplayTests
{
    private static readonly string s_corpus = Path.Combine(AppContext.BaseDirectory, "corpus");

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Keys];

    private static IEnumerable<string> Files(string? target = null) =>
        Directory.GetFiles(target is null ? s_corpus : Path.Combine(s_corpus, target), "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".md", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryCorpusFilePassesThroughTheTargetWithoutACrash(string target)
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var file in Files())
        {
            count++;
            if (Replay.One(target, File.ReadAllBytes(file)) is { } failure)
            {
                failures.Add($"{Path.GetRelativePath(s_corpus, file)}: {failure}");
            }
        }

        Assert.True(failures.Count == 0, $"{target}: {failures.Count} of {count} corpus files crashed:\n{string.Join("\n", failures.Take(5))}");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryTargetHasASeedCorpus(string target)
    {
        // AFL refuses to start without seeds, and a replay of nothing proves nothing.
        Assert.True(Files(target).Count() >= 3, $"corpus/{target} holds fewer than 3 inputs");
    }

    [Fact]
    public void ACrashingInputIsReportedWithItsException()
    {
        // The replay itself must be able to fail: a target name the harness does not know is an exception escaping Run.
        var failure = Replay.One("no-such-target", [1, 2, 3]);

        Assert.NotNull(failure);
        Assert.Contains(nameof(ArgumentException), failure, StringComparison.Ordinal);
    }

    [Fact]
    public void TheAdmissionTargetJudgesWithTheCompiledPolicies()
    {
        // The seeds only exercise the engine if the generator compiled the baseline and fuzz policies into the harness.
        var names = AdmissionHarness.Engine.Policies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("production-images", names);
        Assert.Contains("fuzz-pinned", names);
    }
}

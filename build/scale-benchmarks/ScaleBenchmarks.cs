using System.Collections.Immutable;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.ScaleBenchmarks;

/// <summary>One review of a three-container Pod against a growing set of policies, of which one matches it.</summary>
[MemoryDiagnoser]
public class PolicyCountBenchmarks
{
    private AdmissionEngine _engine = null!;
    private AdmissionRequest _pod = null!;

    [Params(1, 10, 100, 1000)]
    public int Policies { get; set; }

    [GlobalSetup]
    public void Setup() => (_engine, _pod) = Review.Prepare(Policies, matching: 1);

    [Benchmark]
    public Task<AdmissionResponse> Validate() => _engine.ValidateAsync(_pod, CancellationToken.None);

    [Benchmark]
    public Task<AdmissionResponse> Mutate() => _engine.MutateAsync(_pod, CancellationToken.None);
}

/// <summary>The contrast: 1,000 policies, of which 1, 10 or 100 match the Pod.</summary>
[MemoryDiagnoser]
public class MatchingCountBenchmarks
{
    private AdmissionEngine _engine = null!;
    private AdmissionRequest _pod = null!;

    [Params(1, 10, 100)]
    public int Matching { get; set; }

    [GlobalSetup]
    public void Setup() => (_engine, _pod) = Review.Prepare(1000, Matching);

    [Benchmark]
    public Task<AdmissionResponse> Validate() => _engine.ValidateAsync(_pod, CancellationToken.None);

    [Benchmark]
    public Task<AdmissionResponse> Mutate() => _engine.MutateAsync(_pod, CancellationToken.None);
}

internal static class Review
{
    // Both series share the 1,000-policy set; compiling it once keeps the run short.
    private static readonly Dictionary<(int, int), ImmutableArray<PolicyDefinition>> s_sets = [];

    public static (AdmissionEngine Engine, AdmissionRequest Pod) Prepare(int total, int matching)
    {
        if (!s_sets.TryGetValue((total, matching), out var policies))
        {
            policies = PolicyCompilation.Load(SyntheticPolicies.Create(total, matching));
            s_sets[(total, matching)] = policies;
        }

        // Digest references and attestor-less rules: the registry client is constructed but never called.
        var engine = new AdmissionEngine(policies, new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));
        var pod = Pod();
        Check(engine, pod, matching);

        // A short job warms up for a few iterations only; with a thousand freshly loaded match methods still at tier 0
        // the first series read up to ten times slower than a webhook that has been running. Let tiering finish first.
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 100; i++)
            {
                engine.ValidateAsync(pod, CancellationToken.None).GetAwaiter().GetResult();
                engine.MutateAsync(pod, CancellationToken.None).GetAwaiter().GetResult();
            }

            Thread.Sleep(250);
        }

        return (engine, pod);
    }

    public static AdmissionRequest Pod() => new()
    {
        Uid = "00000000-0000-0000-0000-00000000000a",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = SyntheticPolicies.ReviewNamespace,
        Name = "app",
        Operation = "CREATE",
        Object = JsonDocument.Parse($$$"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"{{{SyntheticPolicies.ReviewNamespace}}}"},
             "spec":{"containers":[
               {"name":"web","image":"registry.invalid/scale/web@sha256:{{{new string('a', 64)}}}"},
               {"name":"api","image":"registry.invalid/scale/api@sha256:{{{new string('b', 64)}}}"},
               {"name":"log","image":"registry.invalid/scale/log@sha256:{{{new string('c', 64)}}}"}]}}
            """).RootElement,
    };

    /// <summary>Refuses to measure a set that does not decide as intended: every matching rule passes all three images.</summary>
    private static void Check(AdmissionEngine engine, AdmissionRequest pod, int matching)
    {
        foreach (var mutate in new[] { false, true })
        {
            var decision = engine.DecideWithOutcomesAsync(pod, mutate, CancellationToken.None).GetAwaiter().GetResult();
            var passes = decision.Outcomes.Count(o => o.Status == RuleOutcomeStatus.Pass);
            if (!decision.Response.Allowed || decision.Response.Warnings is not null || passes != 3 * matching)
            {
                throw new InvalidOperationException($"unexpected decision (mutate: {mutate}): allowed {decision.Response.Allowed}, {passes} passes, expected {3 * matching}");
            }
        }
    }
}

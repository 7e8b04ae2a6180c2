// PolicyCompiler side of the peer benchmark (build/peer-benchmark.sh): verifies the happy-path cases of the Sigstore
// conformance suite the way tests/PolicyCompiler.Runtime.Tests/Bundles/SigstoreConformanceTests.cs does and prints
// verifications per second per case as JSON on stdout, in the same shape as sigstore-js/verify.mjs.
//
// Usage: dotnet run -c Release -- [--suite DIR] [--public-good FILE] [--warmup-ms N] [--round-ms N] [--rounds N] [case ...]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;

const string DefaultIdentity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const string DefaultIssuer = "https://token.actions.githubusercontent.com";

var suite = "/work/shared/testdata/sigstore-conformance/bundle-verify";
string? publicGood = null;
var warmupMs = 1000;
var roundMs = 500;
var rounds = 5;
var only = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--suite": suite = args[++i]; break;
        case "--public-good": publicGood = args[++i]; break;
        case "--warmup-ms": warmupMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--round-ms": roundMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: only.Add(args[i]); break;
    }
}

publicGood ??= Path.Combine(suite, "..", "..", "sigstore-public-good", "trusted_root.json");
var names = (only.Count > 0 ? only : Directory.GetDirectories(suite).Select(d => Path.GetFileName(d)))
    .Where(n => !n.EndsWith("_fail", StringComparison.Ordinal))
    .Order(StringComparer.Ordinal)
    .ToList();

var results = new JsonObject();
foreach (var name in names)
{
    var c = Prepare(name);

    // Success is asserted before anything is timed: a case we cannot verify stops the run.
    var check = VerifyOnce(c);
    if (!check.Verified)
    {
        Console.Error.WriteLine($"{name}: PolicyCompiler does not verify it: {check.Reason}");
        return 1;
    }

    var (median, min, max, cpuMedian, perRound) = Measure(c);
    results[name] = new JsonObject { ["median"] = median, ["min"] = min, ["max"] = max, ["cpuMedian"] = cpuMedian, ["iterationsPerRound"] = perRound };
    Console.Error.WriteLine($"{name}: {median:F0} verifications/s");
}

var output = new JsonObject { ["peer"] = "PolicyCompiler", ["dotnet"] = Environment.Version.ToString(), ["results"] = results, ["skipped"] = new JsonObject() };
Console.WriteLine(output.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
return 0;

// Everything a verifier holds between admissions is built once per case, outside the timed loop: the parsed trusted
// root and the signer policy (with a managed key already parsed), as sigstore-js/verify.mjs builds its trust material.
Case Prepare(string name)
{
    var directory = Path.Combine(suite, name);
    var rootPath = File.Exists(Path.Combine(directory, "trusted_root.json")) ? Path.Combine(directory, "trusted_root.json") : publicGood;
    var root = TrustedRoot.Parse(File.ReadAllBytes(rootPath));
    var keyPath = Path.Combine(directory, "key.pub");
    SignerPolicy signer = File.Exists(keyPath)
        ? new StaticKeySigner(VerificationKey.FromPem(File.ReadAllText(keyPath)))
        : new KeylessSigner(
            new KeylessIdentity(ReadOr(Path.Combine(directory, "identity"), DefaultIdentity), null, ReadOr(Path.Combine(directory, "issuer"), DefaultIssuer), null, null),
            roots: null,
            ignoreSct: false,
            ctLogs: null);
    var artifactPath = File.Exists(Path.Combine(directory, "artifact")) ? Path.Combine(directory, "artifact") : Path.Combine(suite, "a.txt");
    return new Case(root, signer, File.ReadAllBytes(artifactPath), File.ReadAllBytes(Path.Combine(directory, "bundle.sigstore.json")));
}

// One verification as an admission would do it: the bundle arrives as bytes and is parsed every time; the artifact is
// hashed every time too (sigstore-js hashes the artifact inside verify).
static SigstoreBundleCheck VerifyOnce(Case c) =>
    SigstoreBundleVerifier.Verify(c.Bundle, BundleArtifact.FromBytes(c.Artifact), c.Signer, c.Root, TimeProvider.System);

// Warm-up (tiered JIT) for warmupMs, which also calibrates how many iterations fill one round; then the median rate.
(double Median, double Min, double Max, double CpuMedian, int PerRound) Measure(Case c)
{
    var iterations = 0;
    var warm = Stopwatch.StartNew();
    while (warm.ElapsedMilliseconds < warmupMs)
    {
        Keep(VerifyOnce(c));
        iterations++;
    }

    var perRound = Math.Max(1, (int)Math.Round((double)iterations * roundMs / warmupMs));
    var wall = new List<double>();
    var cpu = new List<double>();
    for (var r = 0; r < rounds; r++)
    {
        var cpuStart = Environment.CpuUsage.TotalTime;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < perRound; i++)
        {
            Keep(VerifyOnce(c));
        }

        wall.Add(perRound / watch.Elapsed.TotalSeconds);
        cpu.Add(perRound / (Environment.CpuUsage.TotalTime - cpuStart).TotalSeconds);
    }

    // The machine is shared, so besides wall-clock rates the CPU-time rate (verifications per CPU-second, all threads of
    // the process) is reported: it does not count time spent waiting for a core.
    return (Median(wall), wall.Min(), wall.Max(), Median(cpu), perRound);
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

// A failure inside the timed loop would make the figure meaningless, so it stops the run.
static void Keep(SigstoreBundleCheck check)
{
    if (!check.Verified)
    {
        throw new InvalidOperationException("verification failed inside the timed loop: " + check.Reason);
    }
}

static string ReadOr(string path, string fallback) => File.Exists(path) ? File.ReadAllText(path).Trim() : fallback;

internal sealed record Case(TrustedRoot Root, SignerPolicy Signer, byte[] Artifact, byte[] Bundle);

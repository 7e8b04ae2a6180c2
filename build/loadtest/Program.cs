using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

// Load test of the published webhook (issue 8): a real docker-registry with signed images, the NativeAOT binary with a
// policy compiled for them, and wrk POSTing AdmissionReviews over HTTPS with keep-alive at fixed concurrencies.
// Usage: build/loadtest.sh [seconds per run, default 10]
var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var concurrencies = new[] { 1, 8, 64 };

using var work = new TempDirectory("loadtest");
using var signer = CosignSigner.Generate();
using var certificate = TestCertificate.CreateForLoopback("policy-compiler-load");
var policies = work.CreateSubdirectory("policies");
PolicyTemplate.Write(policies, "load-check-image", PolicyTemplate.CheckImage("load-check-image", "check-signature", ["127.0.0.1:*/load/*"], signer.PublicKeyPem, ignoreTlog: true));

Console.WriteLine("publishing the webhook (NativeAOT) with the load policy...");
var publish = WebhookPublisher.PublishAsync(policies + Path.DirectorySeparatorChar, work.Combine("bin"), work.Combine("artifacts"));
using var registry = await RegistryProcess.StartAsync();
var images = new List<PushedImage>();
for (var i = 0; i < 3; i++)
{
    var image = await OciImageBuilder.BuildAndPushAsync(registry, work.CreateSubdirectory("images"), $"load/app{i}", "v1");
    await signer.SignAsync(registry, image);
    images.Add(image);
}

var published = await publish;
Console.WriteLine($"published in {published.PublishTime.TotalSeconds:F0} s; binary {new FileInfo(published.Executable).Length / 1024.0 / 1024.0:F1} MiB");

var rows = new List<string>();
// The last mix stops the registry first (issue 9): every review must still be answered, quickly, and none admitted
// (the policy's failurePolicy is Fail).
foreach (var (label, references, extra, registryDown) in new (string, Func<PushedImage, string>, string[], bool)[]
{
    ("warm cache, digest references", i => i.DigestReference, [], false),
    ("no cache, tag references (cold verification)", i => i.TagReference, ["--Cache:Enabled=false"], false),
    ("registry down, tag references, failurePolicy Fail", i => i.TagReference, ["--Cache:Enabled=false"], true),
})
{
    if (registryDown)
    {
        registry.Dispose();
    }

    var started = Stopwatch.StartNew();
    using var host = await WebhookHost.StartAsync(published, certificate, work.Path, [registry.Host], extra);
    var ready = started.Elapsed;
    var idle = Memory(host.ProcessId, "VmRSS");
    var review = AdmissionClient.Review(new TestPod("load", "pod", [.. images.Select(references)]).ToJson());
    var client = new AdmissionClient(host.Client);
    var first = await client.ReviewAsync("/mutate", review);
    if (first.Allowed != !registryDown)
    {
        throw new InvalidOperationException($"the load review must be {(registryDown ? "denied" : "admitted")}: " + first.Describe());
    }

    var body = work.Combine("review.json");
    await File.WriteAllTextAsync(body, review.ToJsonString());
    var script = work.Combine("post.lua");
    await File.WriteAllTextAsync(script, $$"""
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
        local f = io.open("{{body}}", "r")
        wrk.body = f:read("*all")
        f:close()
        """);
    foreach (var connections in concurrencies)
    {
        var before = await ServerBuckets(host.Client);
        var admittedBefore = await Admitted(host.Client);
        var result = await ProcessRunner.RunAsync("wrk", ["-t", Math.Min(connections, 2).ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", seconds + "s", "--latency", "-s", script, host.BaseUri + "mutate"], TimeSpan.FromSeconds(seconds + 60));
        var output = result.Output;
        string Pick(string pattern) => Regex.Match(output, pattern, RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : "?";
        var errors = Regex.Matches(output, @"(Non-2xx or 3xx responses|Socket errors): ([^\n]+)").Select(m => m.Value).ToList();
        if (registryDown && await Admitted(host.Client) - admittedBefore is var admitted and > 0)
        {
            errors.Add($"ADMITTED {admitted} reviews");
        }
        var server = ServerPercentile(before, await ServerBuckets(host.Client), 0.99);
        rows.Add(string.Join(" | ", label, connections.ToString(CultureInfo.InvariantCulture), Pick(@"Requests/sec:\s+([\d.]+)"), Pick(@"^\S*\|?\s*50%\s+(\S+)"), Pick(@"^\S*\|?\s*90%\s+(\S+)"), Pick(@"^\S*\|?\s*99%\s+(\S+)"), server, errors.Count == 0 ? "0" : string.Join("; ", errors), Memory(host.ProcessId, "VmHWM"), $"{ready.TotalMilliseconds:F0} ms", idle));
    }
}

Console.WriteLine();
Console.WriteLine($"wrk, {seconds} s per run, keep-alive, Pod with 3 containers, {Environment.ProcessorCount} cores");
Console.WriteLine("| mix | connections | reviews/s | p50 | p90 | p99 | server p99 | errors | peak RSS | start to ready | idle RSS |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
foreach (var row in rows)
{
    Console.WriteLine("| " + row + " |");
}

// Reviews of the mutate endpoint the webhook answered with allowed=true so far.
static async Task<long> Admitted(HttpClient client)
{
    var text = await client.GetStringAsync(new Uri("metrics", UriKind.Relative));
    return Regex.Matches(text, @"^policycompiler_admission_requests_total\{[^}]*mutate[^}]*allowed=""true""[^}]*\} (\d+)$", RegexOptions.Multiline)
        .Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
}

// The webhook's own latency histogram (/metrics), so that the server's share is told apart from wrk's on the same cores:
// cumulative bucket counts of the mutate endpoint by upper bound.
static async Task<SortedDictionary<double, long>> ServerBuckets(HttpClient client)
{
    var text = await client.GetStringAsync(new Uri("metrics", UriKind.Relative));
    var buckets = new SortedDictionary<double, long>();
    foreach (Match m in Regex.Matches(text, @"^policycompiler_admission_request_duration_seconds_bucket\{[^}]*mutate[^}]*le=""([^""]+)""\} (\d+)$", RegexOptions.Multiline))
    {
        var bound = m.Groups[1].Value == "+Inf" ? double.PositiveInfinity : double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        buckets[bound] = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
    }

    return buckets;
}

// The upper bound of the bucket that holds the quantile of the reviews answered between the two readings (a bound, not
// an interpolation: "≤ 1 ms" means at least that share of reviews took at most 1 ms at the server).
static string ServerPercentile(SortedDictionary<double, long> before, SortedDictionary<double, long> after, double quantile)
{
    var total = after.TryGetValue(double.PositiveInfinity, out var all) ? all - before.GetValueOrDefault(double.PositiveInfinity) : 0;
    if (total <= 0)
    {
        return "?";
    }

    foreach (var (bound, cumulative) in after)
    {
        if (cumulative - before.GetValueOrDefault(bound) >= quantile * total)
        {
            return double.IsPositiveInfinity(bound) ? "> 30 s" : $"≤ {bound * 1000:0.###} ms";
        }
    }

    return "?";
}

static string Memory(int pid, string field)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith(field + ":", StringComparison.Ordinal))
        {
            var kb = long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            return $"{kb / 1024.0:F1} MiB";
        }
    }

    return "?";
}

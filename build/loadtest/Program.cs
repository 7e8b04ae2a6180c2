using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.LoadTest;

// Load test of the published webhook (issue 8): a real docker-registry with signed images, the NativeAOT binary with a
// policy compiled for them, and wrk POSTing AdmissionReviews over HTTPS with keep-alive at fixed concurrencies.
// Usage: build/loadtest.sh [seconds per run, default 10] [--pinned] [--connections=1,2,4,8]
// --pinned: only the warm mix, run twice: as usual, then with the webhook on CPU 0 and wrk on CPU 1 (taskset), to tell
// the server's own latency apart from the queueing behind wrk on the same cores.
var pinned = args.Contains("--pinned");
var seconds = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) is { } given ? int.Parse(given, CultureInfo.InvariantCulture) : 10;
// --connections=…: other concurrencies than the issue's 1, 8 and 64 (Little's law: at a given throughput, the latency
// grows with the requests kept in flight, so where the 1 ms server p99 and 5,000 reviews/s meet is found between them).
var concurrencies = args.FirstOrDefault(a => a.StartsWith("--connections=", StringComparison.Ordinal)) is { } list
    ? list["--connections=".Length..].Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray()
    : new[] { 1, 8, 64 };

using var work = new TempDirectory("loadtest");
using var signer = CosignSigner.Generate();
using var certificate = TestCertificate.CreateForLoopback("policy-compiler-load");
var policies = work.CreateSubdirectory("policies");
PolicyTemplate.Write(policies, "load-check-image", PolicyTemplate.CheckImage("load-check-image", "check-signature", ["127.0.0.1:*/load/*"], signer.PublicKeyPem, ignoreTlog: true));
// The slow-registry mixes (issue 9) have their own policies, one per failurePolicy, with a short webhook timeout that
// the fault-injecting proxy's delay exceeds.
const int SlowTimeoutSeconds = 3;
PolicyTemplate.Write(policies, "load-slow-fail", PolicyTemplate.CheckImage("load-slow-fail", "check-signature", ["127.0.0.1:*/slow-fail/*"], signer.PublicKeyPem, webhookTimeoutSeconds: SlowTimeoutSeconds, ignoreTlog: true, failurePolicy: "Fail"));
PolicyTemplate.Write(policies, "load-slow-ignore", PolicyTemplate.CheckImage("load-slow-ignore", "check-signature", ["127.0.0.1:*/slow-ignore/*"], signer.PublicKeyPem, webhookTimeoutSeconds: SlowTimeoutSeconds, ignoreTlog: true, failurePolicy: "Ignore"));

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

var slowImages = new Dictionary<string, List<PushedImage>>(StringComparer.Ordinal);
foreach (var repository in new[] { "slow-fail", "slow-ignore" })
{
    slowImages[repository] = [];
    for (var i = 0; i < 3; i++)
    {
        var image = await OciImageBuilder.BuildAndPushAsync(registry, work.CreateSubdirectory("images"), $"{repository}/app{i}", "v1");
        await signer.SignAsync(registry, image);
        slowImages[repository].Add(image);
    }
}

var published = await publish;
Console.WriteLine($"published in {published.PublishTime.TotalSeconds:F0} s; binary {new FileInfo(published.Executable).Length / 1024.0 / 1024.0:F1} MiB");

// Slow or trickling registry under load (issue 9): the real registry behind a fault-injecting proxy, digest references
// (so that nothing but the signature checks reach the registry) and the verdict cache on, as deployed. No answer
// arrives within the policies' 3 s timeout: every review must end at the deadline with the failurePolicy's verdict,
// and identical verifications running at the same time must share one set of registry requests.
var slowRows = new List<string>();
if (!pinned)
{
    using (var proxy = new FaultInjectingProxy(registry.Host))
    {
        foreach (var (label, repository, fault, expectAdmitted) in new (string, string, RegistryFault, bool)[]
        {
            ($"registry answers after 5 s (> {SlowTimeoutSeconds} s timeout), failurePolicy Fail", "slow-fail", RegistryFault.DelayEachResponse, false),
            ($"registry answers after 5 s (> {SlowTimeoutSeconds} s timeout), failurePolicy Ignore", "slow-ignore", RegistryFault.DelayEachResponse, true),
            ("registry trickles 1 byte / 10 ms, failurePolicy Fail", "slow-fail", RegistryFault.TrickleBytes, false),
        })
        {
            proxy.Fault = fault;
            using var host = await WebhookHost.StartAsync(published, certificate, work.Path, [registry.Host, proxy.Host], []);
            var review = AdmissionClient.Review(new TestPod("load", "pod", [.. slowImages[repository].Select(i => $"{proxy.Host}/{i.Repository}@{i.Digest}")]).ToJson());
            var client = new AdmissionClient(host.Client);
            var first = await client.ReviewAsync("/mutate", review);
            if (first.Allowed != expectAdmitted || (expectAdmitted && first.Warnings.Count == 0))
            {
                throw new InvalidOperationException($"the slow-registry review must be {(expectAdmitted ? "admitted with a warning" : "denied")}: " + first.Describe());
            }

            var script = await WriteScriptAsync(work, "slow-" + repository, review);
            foreach (var connections in concurrencies)
            {
                var before = await ServerBuckets(host.Client);
                var (admittedBefore, deniedBefore) = (await Answered(host.Client, "true"), await Answered(host.Client, "false"));
                var requestsBefore = proxy.Requests;
                var output = await RunWrkAsync(connections, seconds, script, host);
                // Reviews still running when wrk stops finish at their deadline; wait for them before reading the counters.
                await Task.Delay(TimeSpan.FromSeconds(SlowTimeoutSeconds + 1));
                var admitted = await Answered(host.Client, "true") - admittedBefore;
                var denied = await Answered(host.Client, "false") - deniedBefore;
                var requests = proxy.Requests - requestsBefore;
                var errors = WrkErrors(output);
                if (admitted > 0 && !expectAdmitted)
                {
                    errors.Add($"ADMITTED {admitted} reviews");
                }

                if (denied > 0 && expectAdmitted)
                {
                    errors.Add($"DENIED {denied} reviews under Ignore");
                }

                var server = ServerPercentile(before, await ServerBuckets(host.Client), 0.99);
                var perReview = admitted + denied > 0 ? (requests / (double)(admitted + denied)).ToString("0.00", CultureInfo.InvariantCulture) : "?";
                slowRows.Add(string.Join(" | ", label, connections.ToString(CultureInfo.InvariantCulture), PickWrk(output, @"Requests/sec:\s+([\d.]+)"), PickWrk(output, @"^\S*\|?\s*50%\s+(\S+)"), PickWrk(output, @"^\S*\|?\s*90%\s+(\S+)"), PickWrk(output, @"^\S*\|?\s*99%\s+(\S+)"), server, errors.Count == 0 ? "0" : string.Join("; ", errors), admitted.ToString(CultureInfo.InvariantCulture), denied.ToString(CultureInfo.InvariantCulture), requests.ToString(CultureInfo.InvariantCulture), perReview, Memory(host.ProcessId, "VmHWM")));
            }
        }
    }
}

var rows = new List<string>();
// The last mix stops the registry first (issue 9): every review must still be answered, quickly, and none admitted
// (the policy's failurePolicy is Fail).
var mixes = new (string, Func<PushedImage, string>, string[], bool)[]
{
    ("warm cache, digest references", i => i.DigestReference, [], false),
    ("no cache, tag references (cold verification)", i => i.TagReference, ["--Cache:Enabled=false"], false),
    ("registry down, tag references, failurePolicy Fail", i => i.TagReference, ["--Cache:Enabled=false"], true),
};
if (pinned)
{
    mixes = [mixes[0], ("warm cache, digest references; webhook pinned to CPU 0, wrk to CPU 1", mixes[0].Item2, [], false)];
}

foreach (var (label, references, extra, registryDown) in mixes)
{
    var pin = label.Contains("pinned", StringComparison.Ordinal);
    if (registryDown)
    {
        registry.Dispose();
    }

    var started = Stopwatch.StartNew();
    using var host = await WebhookHost.StartAsync(published, certificate, work.Path, [registry.Host], extra);
    var ready = started.Elapsed;
    if (pin)
    {
        // Every thread of the webhook (-a), so that Kestrel's and the thread pool's threads stay on CPU 0.
        await ProcessRunner.RunAsync("taskset", ["-a", "-cp", "0", host.ProcessId.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
    }

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
        string[] wrk = ["wrk", "-t", Math.Min(connections, 2).ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", seconds + "s", "--latency", "-s", script, host.BaseUri + "mutate"];
        var result = pin
            ? await ProcessRunner.RunAsync("taskset", ["-c", "1", .. wrk], TimeSpan.FromSeconds(seconds + 60))
            : await ProcessRunner.RunAsync(wrk[0], wrk[1..], TimeSpan.FromSeconds(seconds + 60));
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

Console.WriteLine();
Console.WriteLine($"slow registry behind a fault-injecting proxy, policies' webhookTimeoutSeconds {SlowTimeoutSeconds}, digest references, verdict cache on; wrk, {seconds} s per run");
Console.WriteLine("| mix | connections | reviews/s | p50 | p90 | p99 | server p99 | errors | admitted | denied | registry requests | requests per review | peak RSS |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
foreach (var row in slowRows)
{
    Console.WriteLine("| " + row + " |");
}

static async Task<string> WriteScriptAsync(TempDirectory work, string name, JsonObject review)
{
    var body = work.Combine(name + ".json");
    await File.WriteAllTextAsync(body, review.ToJsonString());
    var script = work.Combine(name + ".lua");
    await File.WriteAllTextAsync(script, $$"""
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
        local f = io.open("{{body}}", "r")
        wrk.body = f:read("*all")
        f:close()
        """);
    return script;
}

// wrk's own timeout (2 s by default) would count every review that waits for the webhook deadline as an error.
static async Task<string> RunWrkAsync(int connections, int seconds, string script, WebhookHost host)
{
    var result = await ProcessRunner.RunAsync("wrk", ["-t", Math.Min(connections, 2).ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture), "-d", seconds + "s", "--timeout", "35s", "--latency", "-s", script, host.BaseUri + "mutate"], TimeSpan.FromSeconds(seconds + 60));
    return result.Output;
}

static string PickWrk(string output, string pattern) => Regex.Match(output, pattern, RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : "?";

static List<string> WrkErrors(string output) => Regex.Matches(output, @"(Non-2xx or 3xx responses|Socket errors): ([^\n]+)").Select(m => m.Value).ToList();

// Reviews of the mutate endpoint the webhook answered with allowed=<allowed> so far.
static async Task<long> Answered(HttpClient client, string allowed)
{
    var text = await client.GetStringAsync(new Uri("metrics", UriKind.Relative));
    return Regex.Matches(text, @"^policycompiler_admission_requests_total\{[^}]*mutate[^}]*allowed=""" + allowed + @"""[^}]*\} (\d+)$", RegexOptions.Multiline)
        .Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
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

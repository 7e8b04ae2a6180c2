using System.Diagnostics.Tracing;
using System.Globalization;

namespace PolicyCompiler.AdmissionBenchmarks;

/// <summary>
/// Where a warm review's bytes go, by allocated type: the runtime's allocation ticks (one event per ~100 KB
/// allocated, naming the type that crossed the threshold) sampled in process while one benchmark runs in a loop.
/// A sampling profile, so only types with many samples are meaningful. Usage: build/bench.sh --alloc-profile.
/// </summary>
internal sealed class AllocationProfile : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _bytesByType = new(StringComparer.Ordinal);
    private bool _recording;

    public static void Run()
    {
        var benchmarks = new AdmissionBenchmarks();
        benchmarks.Setup();
        foreach (var (name, review) in new (string, Func<object>)[] { ("mutate", benchmarks.Mutate), ("validate", benchmarks.Validate) })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {MeasureExactly(review)} bytes per review, exactly (no listener)"));
        }

        foreach (var (name, review) in new (string, Func<object>)[] { ("mutate", benchmarks.Mutate), ("validate", benchmarks.Validate) })
        {
            for (var i = 0; i < 20_000; i++)
            {
                review();
            }

            const int Reviews = 200_000;
            using var profile = new AllocationProfile();
            var before = GC.GetAllocatedBytesForCurrentThread();
            profile._recording = true;
            for (var i = 0; i < Reviews; i++)
            {
                review();
            }

            profile._recording = false;
            var perReview = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Reviews;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {perReview:F0} bytes per review (this thread); sampled by type:"));
            lock (profile._bytesByType)
            {
                var total = profile._bytesByType.Values.Sum();
                foreach (var (type, bytes) in profile._bytesByType.OrderByDescending(p => p.Value).Take(30))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {bytes * 100.0 / total,5:F1}%  ~{bytes * perReview / total,6:F0} B  {type}"));
                }
            }
        }

        // The public steps of a review one by one, measured exactly (bytes on this thread per call).
        Console.WriteLine("steps of a review (bytes per call):");
        var request = benchmarks.Request;
        var context = new PolicyCompiler.Runtime.Admission.AdmissionContext(request);
        var images = PolicyCompiler.Runtime.Images.ImageExtractor.Extract(context);
        Step("new AdmissionContext(request)", () => new PolicyCompiler.Runtime.Admission.AdmissionContext(request));
        Step("ImageExtractor.Extract (3 containers)", () => PolicyCompiler.Runtime.Images.ImageExtractor.Extract(new PolicyCompiler.Runtime.Admission.AdmissionContext(request)), subtract: () => new PolicyCompiler.Runtime.Admission.AdmissionContext(request));
        Step("ImageReference.TryParse x3", () =>
        {
            foreach (var image in images)
            {
                PolicyCompiler.Runtime.Images.ImageReference.TryParse(image.Text, out _, out _);
            }

            return images;
        });
        Step("ImageReference.TryParse x3, then FullyQualified and PatternCandidates", () =>
        {
            foreach (var image in images)
            {
                PolicyCompiler.Runtime.Images.ImageReference.TryParse(image.Text, out var parsed, out _);
                _ = parsed!.FullyQualified;
                _ = parsed.PatternCandidates;
            }

            return images;
        });
        benchmarks.Cleanup();
    }

    private static void Step(string name, Func<object> step, Func<object>? subtract = null)
    {
        static long Measure(Func<object> action)
        {
            action();
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                action();
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {Measure(step) - (subtract is null ? 0 : Measure(subtract)),6} B  {name}"));
    }

    private static long MeasureExactly(Func<object> action)
    {
        for (var i = 0; i < 1000; i++)
        {
            action();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            action();
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / 10_000;
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_recording || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
        {
            return;
        }

        var type = eventData.PayloadNames!.IndexOf("TypeName") is var t and >= 0 ? eventData.Payload[t] as string ?? "?" : "?";
        var amount = eventData.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(eventData.Payload[a], CultureInfo.InvariantCulture) : 100_000;
        lock (_bytesByType)
        {
            _bytesByType[type] = _bytesByType.GetValueOrDefault(type) + amount;
        }
    }
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Telemetry;

/// <summary>
/// A small Prometheus registry: counters and histograms with labels, rendered in the text exposition format.
/// Lock-free on the hot path (one dictionary lookup and an interlocked add per observation).
/// </summary>
public sealed class MetricsRegistry
{
    private readonly ConcurrentDictionary<string, Metric> _metrics = new(StringComparer.Ordinal);

    public Counter Counter(string name, string help, params string[] labelNames) =>
        (Counter)_metrics.GetOrAdd(name, _ => new Counter(name, help, labelNames));

    public Histogram Histogram(string name, string help, double[] buckets, params string[] labelNames) =>
        (Histogram)_metrics.GetOrAdd(name, _ => new Histogram(name, help, buckets, labelNames));

    public string Render()
    {
        var builder = new StringBuilder();
        foreach (var metric in _metrics.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            metric.Render(builder);
        }

        return builder.ToString();
    }
}

public abstract class Metric(string name, string help, string[] labelNames)
{
    public string Name { get; } = name;

    protected string Help { get; } = help;

    protected string[] LabelNames { get; } = labelNames;

    internal abstract void Render(StringBuilder builder);

    protected string Labels(string[] values, string? extraName = null, string? extraValue = null)
    {
        if (values.Length != LabelNames.Length)
        {
            throw new ArgumentException($"{Name} takes {LabelNames.Length} label values", nameof(values));
        }

        if (values.Length == 0 && extraName is null)
        {
            return string.Empty;
        }

        var builder = new StringBuilder("{");
        for (var i = 0; i < values.Length; i++)
        {
            if (i > 0)
            {
                builder.Append(',');
            }

            builder.Append(LabelNames[i]).Append("=\"").Append(Escape(values[i])).Append('"');
        }

        if (extraName is not null)
        {
            if (values.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(extraName).Append("=\"").Append(extraValue).Append('"');
        }

        return builder.Append('}').ToString();
    }

    protected static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}

public sealed class Counter(string name, string help, string[] labelNames) : Metric(name, help, labelNames)
{
    private readonly ConcurrentDictionary<string, StrongBox> _values = new(StringComparer.Ordinal);

    public void Add(long amount, params string[] labelValues) =>
        Interlocked.Add(ref _values.GetOrAdd(Labels(labelValues), _ => new StrongBox()).Value, amount);

    public void Inc(params string[] labelValues) => Add(1, labelValues);

    public long Get(params string[] labelValues) => _values.TryGetValue(Labels(labelValues), out var box) ? Interlocked.Read(ref box.Value) : 0;

    internal override void Render(StringBuilder builder)
    {
        builder.Append("# HELP ").Append(Name).Append(' ').Append(Help).Append('\n');
        builder.Append("# TYPE ").Append(Name).Append(" counter\n");
        foreach (var pair in _values.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            builder.Append(Name).Append(pair.Key).Append(' ').Append(Interlocked.Read(ref pair.Value.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private sealed class StrongBox
    {
        public long Value;
    }
}

public sealed class Histogram(string name, string help, double[] buckets, string[] labelNames) : Metric(name, help, labelNames)
{
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    public void Observe(double value, params string[] labelValues)
    {
        var series = _series.GetOrAdd(Labels(labelValues), _ => new Series(buckets.Length, labelValues));
        for (var i = 0; i < buckets.Length; i++)
        {
            if (value <= buckets[i])
            {
                Interlocked.Increment(ref series.Buckets[i]);
                break;
            }
        }

        Interlocked.Increment(ref series.Count);
        lock (series)
        {
            series.Sum += value;
        }
    }

    internal override void Render(StringBuilder builder)
    {
        builder.Append("# HELP ").Append(Name).Append(' ').Append(Help).Append('\n');
        builder.Append("# TYPE ").Append(Name).Append(" histogram\n");
        foreach (var pair in _series.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var series = pair.Value;
            long cumulative = 0;
            for (var i = 0; i < buckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref series.Buckets[i]);
                builder.Append(Name).Append("_bucket").Append(Labels(series.LabelValues, "le", Format(buckets[i]))).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            var count = Interlocked.Read(ref series.Count);
            builder.Append(Name).Append("_bucket").Append(Labels(series.LabelValues, "le", "+Inf")).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            double sum;
            lock (series)
            {
                sum = series.Sum;
            }

            builder.Append(Name).Append("_sum").Append(pair.Key).Append(' ').Append(Format(sum)).Append('\n');
            builder.Append(Name).Append("_count").Append(pair.Key).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private sealed class Series(int bucketCount, string[] labelValues)
    {
        public readonly long[] Buckets = new long[bucketCount];
        public readonly string[] LabelValues = labelValues;
        public long Count;
        public double Sum;
    }
}

/// <summary>The webhook's metrics, shared by the engine, the registry client and the host.</summary>
public sealed class WebhookMetrics
{
    private static readonly double[] s_latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public WebhookMetrics()
    {
        Requests = Registry.Counter("policycompiler_admission_requests_total", "Admission reviews answered, by endpoint and outcome.", "endpoint", "allowed");
        RequestDuration = Registry.Histogram("policycompiler_admission_request_duration_seconds", "Time to answer an admission review, by endpoint.", s_latencyBuckets, "endpoint");
        Verdicts = Registry.Counter("policycompiler_verdicts_total", "Image verdicts, by policy, rule and result (pass, fail, error).", "policy", "rule", "result");
        CacheLookups = Registry.Counter("policycompiler_verification_cache_lookups_total", "Verification cache lookups, by result (hit, miss).", "result");
        RegistryRequests = Registry.Counter("policycompiler_registry_requests_total", "Requests to OCI registries, by registry and outcome.", "registry", "outcome");
        RegistryDuration = Registry.Histogram("policycompiler_registry_request_duration_seconds", "Time of requests to OCI registries, by registry.", s_latencyBuckets, "registry");
        MalformedRequests = Registry.Counter("policycompiler_malformed_requests_total", "Requests refused as not being admission reviews, by endpoint.", "endpoint");
        PullSecretFailures = Registry.Counter("policycompiler_pull_secret_failures_total", "imagePullSecrets of reviewed Pods that could not be read.");
    }

    public MetricsRegistry Registry { get; } = new();

    public Counter Requests { get; }

    public Histogram RequestDuration { get; }

    public Counter Verdicts { get; }

    public Counter CacheLookups { get; }

    public Counter RegistryRequests { get; }

    public Histogram RegistryDuration { get; }

    public Counter MalformedRequests { get; }

    public Counter PullSecretFailures { get; }
}

using PolicyCompiler.Runtime.Telemetry;

namespace PolicyCompiler.Runtime.Tests.Telemetry;

/// <summary>The Prometheus text exposition format (version 0.0.4) as scrapers parse it.</summary>
public sealed class MetricsTests
{
    [Fact]
    public void CountersRenderWithHelpTypeAndEscapedLabels()
    {
        var registry = new MetricsRegistry();
        var counter = registry.Counter("demo_total", "A demo.", "policy");
        counter.Inc("a\"b");
        counter.Add(2, "plain");

        var text = registry.Render();

        Assert.Contains("# HELP demo_total A demo.\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE demo_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("demo_total{policy=\"a\\\"b\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("demo_total{policy=\"plain\"} 2\n", text, StringComparison.Ordinal);
        Assert.Equal(2, counter.Get("plain"));
    }

    [Fact]
    public void HistogramBucketsAreCumulative()
    {
        var registry = new MetricsRegistry();
        var histogram = registry.Histogram("latency_seconds", "Latency.", [0.1, 1], "endpoint");
        histogram.Observe(0.05, "mutate");
        histogram.Observe(0.5, "mutate");
        histogram.Observe(5, "mutate");

        var text = registry.Render();

        Assert.Contains("latency_seconds_bucket{endpoint=\"mutate\",le=\"0.1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("latency_seconds_bucket{endpoint=\"mutate\",le=\"1\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("latency_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("latency_seconds_count{endpoint=\"mutate\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("latency_seconds_sum{endpoint=\"mutate\"} 5.55\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongLabelCountIsABug()
    {
        var counter = new MetricsRegistry().Counter("x_total", "X.", "a", "b");

        Assert.Throws<ArgumentException>(() => counter.Inc("only-one"));
    }
}

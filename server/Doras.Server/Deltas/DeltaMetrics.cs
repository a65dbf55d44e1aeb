using Prometheus;

namespace Doras.Server.Deltas;

/// <summary>
/// The delta series on <c>/metrics</c>, defined by the folder that records them (on the server's one registry, see
/// <c>Observability/DorasMetrics</c>). The Go original's names (<c>doras_delta_requests_total</c>,
/// <c>doras_delta_creation_duration_seconds{diff_algo,comp_algo,success}</c>) are kept for its dashboards; no label
/// carries a repository, tag, digest or caller.
/// </summary>
public sealed class DeltaMetrics
{
    public DeltaMetrics(CollectorRegistry registry, BuildSlots slots)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        DeltaRequests = factory.CreateCounter("doras_delta_requests_total", "Total number of inbound delta requests");
        DeltaAnswers = factory.CreateCounter("doras_delta_answers_total", "Delta requests by how they were answered", ["status"]);
        DeltaCreationDuration = factory.CreateHistogram("doras_delta_creation_duration_seconds", "Duration of delta creation in seconds",
            ["diff_algo", "comp_algo", "success"], new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.5, 4, 12) });
        BytesSaved = factory.CreateCounter("doras_delta_bytes_saved_total",
            "Bytes devices were spared against full downloads: full size minus delta size, for every ready delta answered");
        AnswerCache = factory.CreateCounter("doras_delta_answer_cache_total", "Lookups of ready answers in memory", ["result"]);
        BuildsWaiting = factory.CreateGauge("doras_delta_builds_waiting", "Builds waiting for a build slot (the queue depth)");
        BuildsRunning = factory.CreateGauge("doras_delta_builds_running", "Build slots in use (stored and per-request signature deltas)");

        // Gauges are read when scraped, not pushed on every change.
        registry.AddBeforeCollectCallback(() =>
        {
            BuildsWaiting.Set(slots.Waiting);
            BuildsRunning.Set(slots.InUse);
        });
    }

    public Counter DeltaRequests { get; }
    public Counter DeltaAnswers { get; }
    public Histogram DeltaCreationDuration { get; }
    public Counter BytesSaved { get; }
    public Counter AnswerCache { get; }
    public Gauge BuildsWaiting { get; }
    public Gauge BuildsRunning { get; }

    /// <summary>Records one build (the Go original's labels): the algorithm, the compression of its output, and whether it succeeded.</summary>
    public void RecordBuild(string algorithm, string? mediaType, bool success, TimeSpan elapsed) =>
        DeltaCreationDuration.WithLabels(algorithm, Compression(mediaType), success ? "true" : "false").Observe(elapsed.TotalSeconds);

    /// <summary>How a delta's bytes are compressed, from its media type (<c>…+zstd</c>; the zstd patch is a zstd frame).</summary>
    private static string Compression(string? mediaType) => mediaType switch
    {
        null => "unknown",
        _ when mediaType.EndsWith("zstd-patch", StringComparison.Ordinal) => "zstd",
        _ when mediaType.LastIndexOf('+') is var plus and > 0 => mediaType[(plus + 1)..],
        _ => "none",
    };
}

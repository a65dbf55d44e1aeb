using Doras.Server.Deltas;
using Prometheus;

namespace Doras.Server.Observability;

/// <summary>
/// Every Prometheus series the server exposes on <c>/metrics</c>, defined once. The names are the Go original's
/// (<c>doras_delta_requests_total</c>, <c>doras_delta_creation_duration_seconds{diff_algo,comp_algo,success}</c>,
/// <c>doras_expired_dummies_total</c>, <c>http_requests_total</c> and <c>http_request_duration_seconds</c> with
/// <c>{code,method,path}</c>), so dashboards made for it keep working; the rest are ours, prefixed <c>doras_</c>.
/// Each server has its own registry (not prometheus-net's static default), so two servers in one process never
/// share counts. No label carries a repository, tag, digest or caller: the series say how much and how fast, never what.
/// </summary>
public sealed class DorasMetrics
{
    public DorasMetrics(BuildSlots slots)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Factory = factory;

        DeltaRequests = factory.CreateCounter("doras_delta_requests_total", "Total number of inbound delta requests");
        DeltaAnswers = factory.CreateCounter("doras_delta_answers_total", "Delta requests by how they were answered", ["status"]);
        DeltaCreationDuration = factory.CreateHistogram("doras_delta_creation_duration_seconds", "Duration of delta creation in seconds",
            ["diff_algo", "comp_algo", "success"], new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.5, 4, 12) });
        ExpiredDummies = factory.CreateCounter("doras_expired_dummies_total", "Total number of expired dummies (delta placeholders removed as expired)");
        BytesSaved = factory.CreateCounter("doras_delta_bytes_saved_total",
            "Bytes devices were spared against full downloads: full size minus delta size, for every ready delta answered");
        AnswerCache = factory.CreateCounter("doras_delta_answer_cache_total", "Lookups of ready answers in memory", ["result"]);
        BuildsWaiting = factory.CreateGauge("doras_delta_builds_waiting", "Builds waiting for a build slot (the queue depth)");
        BuildsRunning = factory.CreateGauge("doras_delta_builds_running", "Build slots in use (stored and per-request signature deltas)");
        GcDeleted = factory.CreateCounter("doras_gc_deleted_total", "Deltas and placeholders garbage collection deleted, by reason", ["reason"]);

        HttpRequests = factory.CreateCounter("http_requests_total", "Total number of HTTP requests processed.", ["code", "method", "path"]);
        HttpRequestDuration = factory.CreateHistogram("http_request_duration_seconds", "Duration of HTTP requests in seconds.", ["code", "method", "path"]);

        // Gauges are read when scraped, not pushed on every change.
        Registry.AddBeforeCollectCallback(() =>
        {
            BuildsWaiting.Set(slots.Waiting);
            BuildsRunning.Set(slots.InUse);
        });
        DotNetStats.Register(Registry);
    }

    public CollectorRegistry Registry { get; }
    public IMetricFactory Factory { get; }

    public Counter DeltaRequests { get; }
    public Counter DeltaAnswers { get; }
    public Histogram DeltaCreationDuration { get; }
    public Counter ExpiredDummies { get; }
    public Counter BytesSaved { get; }
    public Counter AnswerCache { get; }
    public Gauge BuildsWaiting { get; }
    public Gauge BuildsRunning { get; }
    public Counter GcDeleted { get; }
    public Counter HttpRequests { get; }
    public Histogram HttpRequestDuration { get; }

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

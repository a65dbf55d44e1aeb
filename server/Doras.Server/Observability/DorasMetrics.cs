using Prometheus;

namespace Doras.Server.Observability;

/// <summary>
/// The server's metrics registry, read by <c>/metrics</c>, and the HTTP series (the Go original's
/// <c>http_requests_total</c> and <c>http_request_duration_seconds</c> with <c>{code,method,path}</c>). Each folder
/// defines the series it records on this registry (<c>Deltas/DeltaMetrics</c>, <c>Collection/GcMetrics</c>), so none
/// depends on this one. Each server has its own registry (not prometheus-net's static default), so two servers in one
/// process never share counts. No label carries a repository, tag, digest or caller.
/// </summary>
public sealed class DorasMetrics
{
    public DorasMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        HttpRequests = factory.CreateCounter("http_requests_total", "Total number of HTTP requests processed.", ["code", "method", "path"]);
        HttpRequestDuration = factory.CreateHistogram("http_request_duration_seconds", "Duration of HTTP requests in seconds.", ["code", "method", "path"]);
        DotNetStats.Register(registry);
    }

    public CollectorRegistry Registry { get; }
    public Counter HttpRequests { get; }
    public Histogram HttpRequestDuration { get; }
}

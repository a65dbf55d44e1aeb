using Prometheus;

namespace Doras.Server.Collection;

/// <summary>The garbage collector's series on <c>/metrics</c> (<c>doras_expired_dummies_total</c> is the Go original's name).</summary>
public sealed class GcMetrics(CollectorRegistry registry)
{
    public Counter ExpiredDummies { get; } = Metrics.WithCustomRegistry(registry)
        .CreateCounter("doras_expired_dummies_total", "Total number of expired dummies (delta placeholders removed as expired)");

    public Counter GcDeleted { get; } = Metrics.WithCustomRegistry(registry)
        .CreateCounter("doras_gc_deleted_total", "Deltas and placeholders garbage collection deleted, by reason", ["reason"]);
}

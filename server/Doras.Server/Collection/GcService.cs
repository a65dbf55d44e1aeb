using Doras.Server.Deltas;
using Microsoft.Extensions.Options;

namespace Doras.Server.Collection;

/// <summary>
/// In the server: writes the delta usage record every <c>Gc:UsageFlushInterval</c> (and once more when stopping),
/// and, with <c>Gc:Enabled</c>, collects garbage every <c>Gc:Interval</c> (the first run one interval after start).
/// </summary>
public sealed class GcService(GarbageCollector collector, DeltaUsage usage, IOptions<GcOptions> options, TimeProvider time, ILogger<GcService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var nextFlush = time.GetUtcNow() + o.UsageFlushInterval;
        var nextCollection = time.GetUtcNow() + o.Interval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wake = o.Enabled && nextCollection < nextFlush ? nextCollection : nextFlush;
                var wait = wake - time.GetUtcNow();
                if (wait > TimeSpan.Zero) await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
                var now = time.GetUtcNow();
                if (now >= nextFlush)
                {
                    await usage.FlushAsync(stoppingToken).ConfigureAwait(false);
                    nextFlush = now + o.UsageFlushInterval;
                }
                if (o.Enabled && now >= nextCollection)
                {
                    try { await collector.RunAsync(dryRun: false, stoppingToken).ConfigureAwait(false); }
                    catch (Exception e) when (e is not OperationCanceledException) { logger.LogError(e, "Garbage collection failed"); }
                    nextCollection = time.GetUtcNow() + o.Interval;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try { await usage.FlushAsync(cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException) { logger.LogWarning("Stopped before the delta usage record was written"); }
    }
}

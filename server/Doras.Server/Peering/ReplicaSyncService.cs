using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>Syncs every replica with its primary every <c>Peering:SyncInterval</c> (off when zero), one replica after another.</summary>
public sealed class ReplicaSyncService(ReplicaRecords records, ReplicaSync sync, IOptionsMonitor<PeeringOptions> options, TimeProvider time, ILogger<ReplicaSyncService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var interval = options.CurrentValue.SyncInterval;
            if (interval <= TimeSpan.Zero) return;
            try { await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            try { await SyncAllAsync(null, stoppingToken).ConfigureAwait(false); }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Replica sync failed, retried after {Interval}: {Error}", interval, e.Message);
            }
        }
    }

    /// <summary>Syncs every replica, or only <paramref name="repository"/>; a failure of one does not stop the others.</summary>
    public async Task<IReadOnlyList<SyncReport>> SyncAllAsync(string? repository, CancellationToken ct)
    {
        var reports = new List<SyncReport>();
        IReadOnlyList<ReplicaRecord> replicas;
        try { replicas = await records.ListAsync(ct, fresh: true).ConfigureAwait(false); }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning("Could not read the replica records: {Error}", e.Message);
            return reports;
        }
        foreach (var replica in replicas.Where(r => repository is null || r.Repository == repository))
            reports.Add(await sync.SyncAsync(replica, ct).ConfigureAwait(false));
        return reports;
    }
}

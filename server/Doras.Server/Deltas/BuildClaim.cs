using Doras.Oci.Content;

namespace Doras.Server.Deltas;

/// <summary>What every claim of this instance shares: the lease, the timings, the clock, the log.</summary>
/// <param name="Expiry">A placeholder not renewed for this long is another instance's to take over.</param>
/// <param name="Heartbeat">How often a claim is renewed while its build runs.</param>
/// <param name="Settle">How long after writing its placeholder an instance looks whether its claim is the one that stuck.</param>
public sealed record ClaimSettings(IBuildLease Lease, TimeSpan Expiry, TimeSpan Heartbeat, TimeSpan Settle, TimeProvider Time, ILogger Logger);

/// <summary>
/// This instance's claim on one delta while it builds it: a "building" placeholder at the delta's tag (and the
/// lease, when one is configured), written when the build starts and renewed by a heartbeat, so other instances
/// wait for a live owner however long its build takes and take over within <see cref="ClaimSettings.Expiry"/> of
/// its death. When the tag turns out to hold something else (this instance stalled past the expiry and another
/// took over), <see cref="Lost"/> fires so the build stops rather than duplicate the new owner's.
/// </summary>
public sealed class BuildClaim : IAsyncDisposable
{
    private readonly IOciRepository _repository;
    private readonly DeltaKey _key;
    private readonly ClaimSettings _settings;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stopHeartbeat = new();
    private readonly Task _heartbeat;
    private readonly int _failuresBefore;

    private BuildClaim(IOciRepository repository, DeltaKey key, string owner, ClaimSettings settings, int failuresBefore)
    {
        _repository = repository;
        _key = key;
        _failuresBefore = failuresBefore;
        Owner = owner;
        _settings = settings;
        _heartbeat = Task.Run(HeartbeatAsync);
    }

    public string Owner { get; }

    /// <summary>Cancelled when another instance's record replaced this claim's placeholder.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>
    /// Writes this instance's placeholder, lets concurrent claims settle, and keeps the claim when the placeholder
    /// that stuck is ours (the last writer wins; with a lease, only its holder writes). Null when another instance won.
    /// </summary>
    /// <param name="failuresBefore">The delta's failures in a row so far, kept in the placeholder so that whoever builds next counts on from them.</param>
    public static async Task<BuildClaim?> TryTakeAsync(IOciRepository repository, DeltaKey key, string owner, ClaimSettings settings, int failuresBefore, CancellationToken ct)
    {
        if (!await settings.Lease.TryTakeAsync(key, owner, settings.Expiry, ct).ConfigureAwait(false)) return null;
        var kept = false;
        try
        {
            await DeltaRecords.WriteBuildingAsync(repository, key, owner, settings.Time.GetUtcNow(), ct, failuresBefore).ConfigureAwait(false);
            await Task.Delay(settings.Settle, settings.Time, ct).ConfigureAwait(false);
            kept = await DeltaRecords.ReadAsync(repository, key, ct).ConfigureAwait(false) is DeltaRecord.Building mine && mine.Owner == owner;
        }
        finally
        {
            if (!kept) await ReleaseLeaseAsync(key, owner, settings).ConfigureAwait(false);
        }
        if (!kept) return null;
        settings.Logger.LogInformation("Claimed delta {Key} as {Owner}", key, owner);
        return new BuildClaim(repository, key, owner, settings, failuresBefore);
    }

    /// <summary>Stops renewing (before the delta or a failure replaces the placeholder, so no late renewal overwrites it).</summary>
    public async Task StopHeartbeatAsync()
    {
        await _stopHeartbeat.CancelAsync().ConfigureAwait(false);
        await _heartbeat.ConfigureAwait(false);
    }

    /// <summary>Gives the claim up at once, for another instance to build (on shutdown): the placeholder, if still ours, is marked released.</summary>
    public async Task ReleaseAsync()
    {
        await StopHeartbeatAsync().ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            if (await DeltaRecords.ReadAsync(_repository, _key, timeout.Token).ConfigureAwait(false) is DeltaRecord.Building mine && mine.Owner == Owner)
            {
                await DeltaRecords.WriteReleasedAsync(_repository, _key, Owner, timeout.Token, _failuresBefore).ConfigureAwait(false);
                _settings.Logger.LogInformation("Released the claim on delta {Key} for another instance to build", _key);
            }
        }
        catch (Exception e)
        {
            _settings.Logger.LogWarning(e, "Could not release the claim on delta {Key}; another instance takes it over after the placeholder expires", _key);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopHeartbeatAsync().ConfigureAwait(false);
        await ReleaseLeaseAsync(_key, Owner, _settings).ConfigureAwait(false);
        _lost.Dispose();
        _stopHeartbeat.Dispose();
    }

    private async Task HeartbeatAsync()
    {
        while (true)
        {
            // Only the wait is cut short by a stop: a renewal under way finishes, so none lands after the delta.
            try { await Task.Delay(_settings.Heartbeat, _settings.Time, _stopHeartbeat.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            using var timeout = new CancellationTokenSource(_settings.Expiry);
            try
            {
                var record = await DeltaRecords.ReadAsync(_repository, _key, timeout.Token).ConfigureAwait(false);
                if (record is not DeltaRecord.Building mine || mine.Owner != Owner
                    || !await _settings.Lease.RenewAsync(_key, Owner, _settings.Expiry, timeout.Token).ConfigureAwait(false))
                {
                    _settings.Logger.LogWarning("Lost the claim on delta {Key}: its tag now holds {Record}; stopping this build", _key, record);
                    await _lost.CancelAsync().ConfigureAwait(false);
                    return;
                }
                await DeltaRecords.WriteBuildingAsync(_repository, _key, Owner, _settings.Time.GetUtcNow(), timeout.Token, _failuresBefore).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || timeout.IsCancellationRequested)
            {
                _settings.Logger.LogWarning(e, "Could not renew the claim on delta {Key}; trying again at the next heartbeat", _key);
            }
        }
    }

    private static async Task ReleaseLeaseAsync(DeltaKey key, string owner, ClaimSettings settings)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await settings.Lease.ReleaseAsync(key, owner, timeout.Token).ConfigureAwait(false); }
        catch (Exception e) { settings.Logger.LogWarning(e, "Could not release the lease on delta {Key}; it expires by itself", key); }
    }
}

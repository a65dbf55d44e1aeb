using System.Collections.Concurrent;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>The state of one delta's build, as the coordinator knows it.</summary>
public abstract record BuildState
{
    public sealed record Running(DateTimeOffset Since) : BuildState;
    public sealed record Succeeded(Descriptor Manifest) : BuildState;
    public sealed record Failed(string Reason, DateTimeOffset At) : BuildState;
}

/// <summary>
/// Runs delta builds in the background, outliving the requests that asked for them. However many requests
/// ask for the same delta at once, exactly one build starts; a failed build is remembered for a while and
/// reported, so clients get an error instead of waiting forever.
/// </summary>
public sealed class DeltaBuildCoordinator
{
    private readonly ConcurrentDictionary<DeltaKey, Lazy<Entry>> _builds = new();
    private readonly DeltaBuilder _builder;
    private readonly DeltaOptions _options;
    private readonly BuildSlots _slots;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;

    /// <summary>Identifies this process in placeholders.</summary>
    private readonly string _instance = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private readonly ILogger<DeltaBuildCoordinator> _logger;

    public DeltaBuildCoordinator(DeltaBuilder builder, BuildSlots slots, IOptions<DeltaOptions> options, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<DeltaBuildCoordinator> logger)
    {
        _logger = logger;
        _builder = builder;
        _options = options.Value;
        _slots = slots;
        _stopping = lifetime.ApplicationStopping;
        _time = time;
    }

    private sealed class Entry
    {
        public required DateTimeOffset Started { get; init; }
        public required Task<Descriptor> Task { get; init; }
        public DateTimeOffset? FinishedAt { get; set; }
    }

    /// <summary>Starts the build for <paramref name="job"/> unless one is running or recently finished, and says where it stands.</summary>
    public BuildState GetOrStart(DeltaJob job)
    {
        var lazy = _builds.GetOrAdd(job.Key, _ => new Lazy<Entry>(() => Start(job)));
        var entry = lazy.Value;
        var task = entry.Task;
        if (!task.IsCompleted) return new BuildState.Running(entry.Started);
        if (task.IsCompletedSuccessfully)
        {
            // The delta is in the store now; the store answers from here on.
            _builds.TryRemove(KeyValuePair.Create(job.Key, lazy));
            return new BuildState.Succeeded(task.Result);
        }
        var finished = entry.FinishedAt ?? _time.GetUtcNow();
        if (_time.GetUtcNow() - finished > _options.FailureRetention)
        {
            // Long enough ago: let this request try again.
            _builds.TryRemove(KeyValuePair.Create(job.Key, lazy));
            return GetOrStart(job);
        }
        var reason = task.Exception?.GetBaseException().Message ?? "the build was cancelled";
        return new BuildState.Failed(reason, finished);
    }

    private Entry Start(DeltaJob job)
    {
        Entry? entry = null;
        var task = Task.Run(async () =>
        {
            try { return await RunAsync(job).ConfigureAwait(false); }
            finally
            {
                if (entry is not null) entry.FinishedAt = _time.GetUtcNow();
            }
        }, _stopping);
        entry = new Entry { Started = _time.GetUtcNow(), Task = task };
        return entry;
    }

    /// <summary>
    /// Claims the delta through the store, so instances sharing it build each delta once: wait while another
    /// instance's placeholder is fresh; otherwise write ours, let concurrent claims settle, and build only if
    /// ours is the one that stuck (the last writer wins). A failure is recorded for the other instances.
    /// </summary>
    private async Task<Descriptor> RunAsync(DeltaJob job)
    {
        while (true)
        {
            var now = _time.GetUtcNow();
            switch (await DeltaRecords.ReadAsync(job.Repository, job.Key, _stopping).ConfigureAwait(false))
            {
                case DeltaRecord.Ready ready:
                    return ready.Manifest;
                case DeltaRecord.Failed failed when now - failed.At < _options.FailureRetention:
                    throw new DeltaBuildFailedException(failed.Reason);
                case DeltaRecord.Building building when now - building.Since < _options.PlaceholderExpiry:
                    await Task.Delay(_options.PlaceholderPollInterval, _time, _stopping).ConfigureAwait(false);
                    continue;
            }

            var owner = $"{_instance}/{Guid.NewGuid():N}";
            await DeltaRecords.WriteBuildingAsync(job.Repository, job.Key, owner, now, _stopping).ConfigureAwait(false);
            await Task.Delay(_options.ClaimSettleDelay, _time, _stopping).ConfigureAwait(false);
            if (await DeltaRecords.ReadAsync(job.Repository, job.Key, _stopping).ConfigureAwait(false) is not DeltaRecord.Building mine || mine.Owner != owner)
                continue; // another instance claimed it last: wait for its result

            using var slot = await _slots.WaitAsync(_stopping).ConfigureAwait(false);
            try
            {
                return await _builder.BuildAsync(job, _stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await RecordFailureAsync(job, e.Message).ConfigureAwait(false);
                throw;
            }
        }
    }

    private async Task RecordFailureAsync(DeltaJob job, string reason)
    {
        try { await DeltaRecords.WriteFailedAsync(job.Repository, job.Key, reason, _time.GetUtcNow(), _stopping).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not record the failure of delta {Key} in the store", job.Key);
        }
    }

}

/// <summary>A build failed, here or in another instance sharing the store.</summary>
public sealed class DeltaBuildFailedException(string reason) : Exception(reason);

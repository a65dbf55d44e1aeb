using System.Collections.Concurrent;
using Doras.Delta.Artifacts;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>The state of one delta's build, as the coordinator knows it.</summary>
public abstract record BuildState
{
    /// <param name="Expected">When it should be done, by <see cref="BuildEstimates"/>.</param>
    public sealed record Running(DateTimeOffset Since, DateTimeOffset Expected) : BuildState;
    public sealed record Succeeded(Descriptor Manifest) : BuildState;
    /// <param name="NotApplicable">The algorithms cannot make this delta at all: 406, not 500.</param>
    public sealed record Failed(string Reason, DateTimeOffset At, bool NotApplicable) : BuildState;
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
    private readonly BuildEstimates _estimates;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;

    /// <summary>Identifies this process in placeholders.</summary>
    private readonly string _instance = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private readonly ILogger<DeltaBuildCoordinator> _logger;

    public DeltaBuildCoordinator(DeltaBuilder builder, BuildSlots slots, BuildEstimates estimates, IOptions<DeltaOptions> options, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<DeltaBuildCoordinator> logger)
    {
        _logger = logger;
        _builder = builder;
        _options = options.Value;
        _slots = slots;
        _estimates = estimates;
        _stopping = lifetime.ApplicationStopping;
        _time = time;
    }

    private sealed class Entry
    {
        public required DateTimeOffset Started { get; init; }
        public required DateTimeOffset Expected { get; init; }
        public required Task<Descriptor> Task { get; init; }
        public DateTimeOffset? FinishedAt { get; set; }
    }

    /// <summary>Where the build of <paramref name="key"/> in this process stands, without starting one: running, or null.</summary>
    public BuildState.Running? Peek(DeltaKey key) =>
        _builds.TryGetValue(key, out var lazy) && lazy.IsValueCreated && !lazy.Value.Task.IsCompleted
            ? new BuildState.Running(lazy.Value.Started, lazy.Value.Expected) : null;

    /// <summary>Starts the build for <paramref name="job"/> unless one is running or recently finished, and says where it stands.</summary>
    public BuildState GetOrStart(DeltaJob job)
    {
        var lazy = _builds.GetOrAdd(job.Key, _ => new Lazy<Entry>(() => Start(job)));
        var entry = lazy.Value;
        var task = entry.Task;
        if (!task.IsCompleted) return new BuildState.Running(entry.Started, entry.Expected);
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
        var error = task.Exception?.GetBaseException();
        return new BuildState.Failed(error is null ? "the build was cancelled" : Reason(error), finished, IsNotApplicable(error));
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
        var now = _time.GetUtcNow();
        var expected = now + _estimates.Estimate(job.Candidates.Select(c => c.Name), job.From.ContentSize + job.To.ContentSize);
        entry = new Entry { Started = now, Expected = expected, Task = task };
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
                case DeltaRecord.Failed { NotApplicable: true } failed when now - failed.At < _options.FailureRetention:
                    throw new IncompatibleArtifactException(failed.Reason);
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
                await RecordFailureAsync(job, Reason(e), IsNotApplicable(e)).ConfigureAwait(false);
                throw;
            }
        }
    }

    private static bool IsNotApplicable(Exception? e) => e is IncompatibleArtifactException;

    /// <summary>
    /// What clients are told of a failure (and what is stored for other instances): our own messages as they are, but
    /// of a registry's answer to the server only its status, and of a file error only its kind, so no registry body,
    /// path or credential detail leaves the server. The log has the whole exception.
    /// </summary>
    private static string Reason(Exception e) => e switch
    {
        HttpRequestException { StatusCode: { } status } => $"the registry answered the server {(int)status} {status}",
        HttpRequestException => "the server could not reach the registry",
        UnauthorizedAccessException or FileNotFoundException or DirectoryNotFoundException or PathTooLongException => $"a storage error on the server ({e.GetType().Name})",
        IOException when e.GetType() == typeof(IOException) => "a storage error on the server",
        _ => e.Message,
    };

    private async Task RecordFailureAsync(DeltaJob job, string reason, bool notApplicable)
    {
        try { await DeltaRecords.WriteFailedAsync(job.Repository, job.Key, reason, notApplicable, _time.GetUtcNow(), _stopping).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not record the failure of delta {Key} in the store", job.Key);
        }
    }

}

/// <summary>A build failed, here or in another instance sharing the store.</summary>
public sealed class DeltaBuildFailedException(string reason) : Exception(reason);

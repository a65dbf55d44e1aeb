using System.Collections.Concurrent;
using Doras.Delta.Artifacts;
using Doras.Oci;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>The state of one delta's build, as the coordinator knows it.</summary>
public abstract record BuildState
{
    /// <param name="Expected">When it should be done, by <see cref="BuildEstimates"/>.</param>
    public sealed record Running(DateTimeOffset Since, DateTimeOffset Expected) : BuildState;
    public sealed record Succeeded(Descriptor Manifest) : BuildState;
    /// <param name="NotApplicable">The algorithms cannot make this delta at all: 406, not 500.</param>
    /// <param name="Failures">How many builds of this delta failed in a row, this one included; 0 when another server counts them (a replica's primary).</param>
    public sealed record Failed(string Reason, DateTimeOffset At, bool NotApplicable, int Failures = 1) : BuildState;
    /// <summary>The build queue (of <paramref name="Capacity"/> builds) is full: ask again after <paramref name="RetryAfter"/> (503).</summary>
    public sealed record Busy(TimeSpan RetryAfter, int Capacity) : BuildState;
}

/// <summary>
/// Runs delta builds in the background, outliving the requests that asked for them. However many requests
/// ask for the same delta at once, exactly one build starts; a failed build is remembered for a while and
/// reported, so clients get an error instead of waiting forever. At most <c>Delta:QueueCapacity</c> builds are
/// taken on at once (beyond, <see cref="BuildState.Busy"/>); each waits for a build slot before it claims its
/// delta in the store, so a queued build blocks no other instance.
/// </summary>
public sealed class DeltaBuildCoordinator
{
    private readonly ConcurrentDictionary<DeltaKey, Lazy<Entry>> _builds = new();
    private readonly DeltaBuilder _builder;
    private readonly DeltaOptions _options;
    private readonly BuildQueueOptions _queueOptions;
    private readonly BuildSlots _slots;
    private readonly BuildQueue _queue;
    private readonly BuildEstimates _estimates;
    private readonly ClaimSettings _claims;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;
    private int _running;

    /// <summary>Identifies this process in placeholders.</summary>
    private readonly string _instance = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private readonly ILogger<DeltaBuildCoordinator> _logger;

    public DeltaBuildCoordinator(DeltaBuilder builder, BuildSlots slots, BuildQueue queue, BuildEstimates estimates, IBuildLease lease,
        IOptions<DeltaOptions> options, IOptions<BuildQueueOptions> queueOptions, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<DeltaBuildCoordinator> logger)
    {
        _logger = logger;
        _builder = builder;
        _options = options.Value;
        _queueOptions = queueOptions.Value;
        _slots = slots;
        _queue = queue;
        _estimates = estimates;
        _stopping = lifetime.ApplicationStopping;
        _time = time;
        _claims = new ClaimSettings(lease, _options.PlaceholderExpiry, _queueOptions.HeartbeatInterval, _options.ClaimSettleDelay, time, logger);
    }

    private sealed class Entry
    {
        public required DateTimeOffset Started { get; init; }
        public required DateTimeOffset Expected { get; init; }
        public required Task<Descriptor> Task { get; init; }
        public required Ending Ending { get; init; }
    }

    /// <summary>How a build ended, set by the build itself (so before its task completes, whatever the order of start-up).</summary>
    private sealed class Ending
    {
        public DateTimeOffset? FinishedAt { get; set; }
        /// <summary>The failure's own time, recorded or found in the store: it stands from then.</summary>
        public DateTimeOffset? FailedAt { get; set; }
        public int Failures { get; set; } = 1;
    }

    /// <summary>Builds computing right now in this process.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Where the build of <paramref name="key"/> in this process stands, without starting one: running, or null.</summary>
    public BuildState.Running? Peek(DeltaKey key) =>
        _builds.TryGetValue(key, out var lazy) && lazy.IsValueCreated && !lazy.Value.Task.IsCompleted
            ? new BuildState.Running(lazy.Value.Started, lazy.Value.Expected) : null;

    /// <summary>
    /// Starts the build for <paramref name="job"/> unless one is running or recently finished, and says where it
    /// stands; <see cref="BuildState.Busy"/> when it would be one build more than the queue holds.
    /// </summary>
    public BuildState GetOrStart(DeltaJob job)
    {
        if (!_builds.TryGetValue(job.Key, out var lazy))
        {
            if (!_queue.TryEnter()) return new BuildState.Busy(BusyRetryAfter(), _queue.Capacity);
            var mine = new Lazy<Entry>(() => Start(job));
            lazy = _builds.GetOrAdd(job.Key, mine);
            if (!ReferenceEquals(lazy, mine)) _queue.Leave(); // another request added it first
        }
        var entry = lazy.Value;
        var task = entry.Task;
        if (!task.IsCompleted) return new BuildState.Running(entry.Started, entry.Expected);
        if (task.IsCompletedSuccessfully)
        {
            // The delta is in the store now; the store answers from here on.
            _builds.TryRemove(KeyValuePair.Create(job.Key, lazy));
            return new BuildState.Succeeded(task.Result);
        }
        var ending = entry.Ending;
        var finished = ending.FailedAt ?? ending.FinishedAt ?? _time.GetUtcNow();
        if (_time.GetUtcNow() - finished > _options.FailureRetentionAfter(ending.Failures) || _stopping.IsCancellationRequested)
        {
            // Long enough ago: let this request try again.
            _builds.TryRemove(KeyValuePair.Create(job.Key, lazy));
            return _stopping.IsCancellationRequested ? new BuildState.Busy(BusyRetryAfter(), _queue.Capacity) : GetOrStart(job);
        }
        var error = task.Exception?.GetBaseException();
        return new BuildState.Failed(error is null ? "the build was cancelled" : Reason(error), finished, IsNotApplicable(error), ending.Failures);
    }

    /// <summary>Waits until every build of this process has ended (they stop, releasing their claims, when the application stops).</summary>
    public Task DrainAsync() =>
        Task.WhenAll(_builds.Values.Where(l => l.IsValueCreated).Select(l => l.Value.Task.ContinueWith(_ => { }, TaskScheduler.Default)));

    /// <summary>When a place in the queue should be free: the soonest expected end of a build here, within 1 s .. MaxRetryAfterSeconds.</summary>
    private TimeSpan BusyRetryAfter()
    {
        var soonest = _builds.Values.Where(l => l.IsValueCreated && !l.Value.Task.IsCompleted).Select(l => l.Value.Expected).DefaultIfEmpty(_time.GetUtcNow()).Min();
        return TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling((soonest - _time.GetUtcNow()).TotalSeconds), 1, _options.MaxRetryAfterSeconds));
    }

    private Entry Start(DeltaJob job)
    {
        var ending = new Ending();
        var task = Task.Run(async () =>
        {
            try { return await RunAsync(job, ending).ConfigureAwait(false); }
            finally
            {
                ending.FinishedAt = _time.GetUtcNow();
                _queue.Leave();
            }
        }, CancellationToken.None); // never skipped: its finally gives the queue place back
        var now = _time.GetUtcNow();
        var expected = now + _estimates.Estimate(job.Candidates, job.Subject.InputBytes, job.Subject.TargetBytes);
        return new Entry { Started = now, Expected = expected, Task = task, Ending = ending };
    }

    /// <summary>What the record at a delta's tag means for an instance that wants the delta.</summary>
    private enum Next { Done, Wait, Claim }

    private Next Decide(DeltaRecord record, DateTimeOffset now) => record switch
    {
        DeltaRecord.Ready => Next.Done,
        DeltaRecord.Failed failed when failed.Stands(now, _options) => Next.Done,
        DeltaRecord.Building building when now - building.Since < _options.PlaceholderExpiry => Next.Wait,
        _ => Next.Claim, // absent, an expired failure, or a placeholder whose owner stopped renewing it
    };

    private static Descriptor Outcome(DeltaRecord record, Ending ending)
    {
        if (record is DeltaRecord.Failed standing) (ending.Failures, ending.FailedAt) = (standing.Failures, standing.At);
        return Outcome(record);
    }

    /// <summary>
    /// The failures in a row before a build that claims over <paramref name="record"/>: an expired failure's count, a
    /// released placeholder's, and one more for a placeholder whose owner stopped renewing it (it died building: a
    /// build that kills its server is a failure too).
    /// </summary>
    private static int FailuresBefore(DeltaRecord record) => record switch
    {
        DeltaRecord.Failed expired => expired.Failures,
        DeltaRecord.Building { Released: true } released => released.FailuresBefore,
        DeltaRecord.Building abandoned => Math.Min(abandoned.FailuresBefore + 1, DeltaRecords.MaxFailures),
        _ => 0,
    };

    private static Descriptor Outcome(DeltaRecord record) => record switch
    {
        DeltaRecord.Ready ready => ready.Manifest,
        DeltaRecord.Failed { NotApplicable: true } failed => throw new IncompatibleArtifactException(failed.Reason),
        DeltaRecord.Failed failed => throw new DeltaBuildFailedException(failed.Reason),
        _ => throw new InvalidOperationException($"{record} is no outcome"),
    };

    /// <summary>
    /// Waits while another instance's placeholder is fresh; otherwise takes a build slot, claims the delta (see
    /// <see cref="BuildClaim"/>) and builds it while the claim's heartbeat renews it. A failure is recorded for the
    /// other instances; on shutdown the claim is released so another instance builds at once.
    /// </summary>
    /// <param name="ending">Given the failure's time and count when the build fails, or finds a failure that still stands.</param>
    private async Task<Descriptor> RunAsync(DeltaJob job, Ending ending)
    {
        while (true)
        {
            var record = await DeltaRecords.ReadAsync(job.Repository, job.Key, _stopping).ConfigureAwait(false);
            var next = Decide(record, _time.GetUtcNow());
            if (next == Next.Done) return Outcome(record, ending);
            if (next == Next.Wait)
            {
                await Task.Delay(_options.PlaceholderPollInterval, _time, _stopping).ConfigureAwait(false);
                continue;
            }

            using var slot = await _slots.WaitAsync(_stopping).ConfigureAwait(false);
            // While this build waited for a slot, another instance may have claimed or finished the delta.
            record = await DeltaRecords.ReadAsync(job.Repository, job.Key, _stopping).ConfigureAwait(false);
            next = Decide(record, _time.GetUtcNow());
            if (next == Next.Done) return Outcome(record, ending);
            if (next == Next.Wait) continue;
            var failuresBefore = FailuresBefore(record);
            await using var claim = await BuildClaim.TryTakeAsync(job.Repository, job.Key, $"{_instance}/{Guid.NewGuid():N}", _claims, failuresBefore, _stopping).ConfigureAwait(false);
            if (claim is null)
            {
                // Another instance claimed it last (or holds the lease): wait for its result.
                await Task.Delay(_options.PlaceholderPollInterval, _time, _stopping).ConfigureAwait(false);
                continue;
            }
            if (record is DeltaRecord.Building stale)
                _logger.LogInformation("Took over delta {Key} from {Owner}, whose placeholder was last renewed at {Since:O}", job.Key, stale.Owner, stale.Since);
            using var build = CancellationTokenSource.CreateLinkedTokenSource(_stopping, claim.Lost);
            Interlocked.Increment(ref _running);
            try
            {
                if (_queueOptions.TestOnlyBuildDelay > TimeSpan.Zero)
                    await Task.Delay(_queueOptions.TestOnlyBuildDelay, _time, build.Token).ConfigureAwait(false);
                return await _builder.BuildAsync(job, build.Token, beforeStoring: claim.StopHeartbeatAsync).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                await claim.ReleaseAsync().ConfigureAwait(false);
                throw;
            }
            catch (OperationCanceledException) when (claim.Lost.IsCancellationRequested)
            {
                continue; // another instance took over: wait for its result
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await claim.StopHeartbeatAsync().ConfigureAwait(false);
                // A transient failure (the registry unreachable for a while) is no reason to wait longer next time.
                ending.Failures = Transience.IsTransient(e) ? Math.Max(1, failuresBefore) : Math.Min(failuresBefore + 1, DeltaRecords.MaxFailures);
                ending.FailedAt = _time.GetUtcNow();
                if (ending.Failures > 1)
                    _logger.LogWarning("Delta {Key} failed {Failures} times in a row; it is tried again after {Retention}", job.Key, ending.Failures, _options.FailureRetentionAfter(ending.Failures));
                await RecordFailureAsync(job, Reason(e), IsNotApplicable(e), ending.Failures, ending.FailedAt.Value).ConfigureAwait(false);
                throw;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }
    }

    private static bool IsNotApplicable(Exception? e) => e is not null && Failures.KindOf(e) == FailureKind.Incompatible;

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

    private async Task RecordFailureAsync(DeltaJob job, string reason, bool notApplicable, int failures, DateTimeOffset at)
    {
        try { await DeltaRecords.WriteFailedAsync(job.Repository, job.Key, reason, notApplicable, at, _stopping, failures).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not record the failure of delta {Key} in the store", job.Key);
        }
    }

}

/// <summary>A build failed, here or in another instance sharing the store.</summary>
public sealed class DeltaBuildFailedException(string reason) : Exception(reason), IFailure
{
    public FailureKind Kind => FailureKind.Internal; // the server's own build failed
}

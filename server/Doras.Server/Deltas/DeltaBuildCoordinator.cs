using System.Collections.Concurrent;
using Doras.Oci.Content;
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
public sealed class DeltaBuildCoordinator : IDisposable
{
    private readonly ConcurrentDictionary<DeltaKey, Lazy<Entry>> _builds = new();
    private readonly DeltaBuilder _builder;
    private readonly DeltaOptions _options;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;

    public DeltaBuildCoordinator(DeltaBuilder builder, IOptions<DeltaOptions> options, IHostApplicationLifetime lifetime, TimeProvider time)
    {
        _builder = builder;
        _options = options.Value;
        _slots = new SemaphoreSlim(Math.Max(1, _options.MaxConcurrentBuilds));
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
            await _slots.WaitAsync(_stopping).ConfigureAwait(false);
            try
            {
                // Another request may have finished this delta just before ours was registered.
                return await job.Repository.TryResolveAsync(job.Key.Tag, _stopping).ConfigureAwait(false)
                    ?? await _builder.BuildAsync(job, _stopping).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
                if (entry is not null) entry.FinishedAt = _time.GetUtcNow();
            }
        }, _stopping);
        entry = new Entry { Started = _time.GetUtcNow(), Task = task };
        return entry;
    }

    public void Dispose() => _slots.Dispose();
}

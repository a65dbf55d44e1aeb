using Doras.EdgeClient.Updates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Doras.EdgeClient.Watching;

public sealed record WatchOptions
{
    /// <summary>Time between checks.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Each wait is the interval ± this fraction, at random, so a fleet does not check in lockstep.</summary>
    public double Jitter { get; init; } = 0.2;

    /// <summary>Stop after this many checks (null: until cancelled).</summary>
    public int? MaxChecks { get; init; }
}

/// <summary>One check of a watch: what the update did, or why it failed.</summary>
public sealed record WatchCheck(int Number, UpdateResult? Result, Exception? Error);

/// <summary>
/// Keeps a target at a tag: checks on an interval with jitter, updates when there is something new, and tells
/// the embedding agent after each check (and after each installed update, so it can restart its service).
/// Failures of one check are reported and the watch goes on; only cancellation ends it.
/// </summary>
public sealed class UpdateWatcher(Updater updater, ILogger<UpdateWatcher>? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger<UpdateWatcher>.Instance;

    public event Func<WatchCheck, CancellationToken, Task>? Checked;

    /// <summary>Raised after an update was installed (not for "up to date").</summary>
    public event Func<UpdateResult, CancellationToken, Task>? Updated;

    public Task RunAsync(UpdateOptions update, WatchOptions watch, CancellationToken ct) =>
        RunAsync(token => updater.UpdateAsync(update, token), update.Reference, watch, ct);

    /// <summary>The same watch around any update (a container image's, <see cref="Images.ImageUpdater"/>).</summary>
    public async Task RunAsync(Func<CancellationToken, Task<UpdateResult>> update, string reference, WatchOptions watch, CancellationToken ct)
    {
        for (var number = 1; watch.MaxChecks is null || number <= watch.MaxChecks; number++)
        {
            WatchCheck check;
            try
            {
                var result = await update(ct).ConfigureAwait(false);
                check = new WatchCheck(number, result, null);
                if (result.Mode != UpdateMode.UpToDate && Updated is { } updated) await updated(result, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                _log.LogWarning(e, "Check {Number} of {Reference} failed", number, reference);
                check = new WatchCheck(number, null, e);
            }
            if (Checked is { } checkedHandler) await checkedHandler(check, ct).ConfigureAwait(false);
            if (watch.MaxChecks is { } max && number >= max) break;
            await Task.Delay(NextDelay(watch), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The interval, moved up or down at random by up to <see cref="WatchOptions.Jitter"/> of itself.</summary>
    public static TimeSpan NextDelay(WatchOptions watch)
    {
        var jitter = Math.Clamp(watch.Jitter, 0, 1);
        var factor = 1 + jitter * (2 * Random.Shared.NextDouble() - 1);
        return TimeSpan.FromTicks((long)(watch.Interval.Ticks * factor));
    }
}

using System.Diagnostics;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>One candidate's delta, built into a file of the work directory.</summary>
public sealed record BuiltDelta(IDeltaAlgorithm Algorithm, string Path, Digest Digest, long Size, TimeSpan Elapsed);

/// <summary>What happens to each candidate of <see cref="SmallestDelta"/>, for whoever logs or learns from it.</summary>
public interface ISmallestDeltaObserver
{
    void Built(BuiltDelta delta) { }

    void Refused(IDeltaAlgorithm algorithm, string reason) { }

    void NotTried(IDeltaAlgorithm algorithm, TimeSpan budget) { }

    /// <summary>Started, but stopped when the budget ran out while it was built; its partial delta is deleted and no later candidate is tried.</summary>
    void CutOff(IDeltaAlgorithm algorithm, TimeSpan budget) { }

    /// <summary>Not built: <paramref name="by"/> leaves it no chance (<see cref="OutclassedCandidates"/>).</summary>
    void Outclassed(IDeltaAlgorithm algorithm, BuiltDelta by) { }

    /// <summary>
    /// Built at its probe's setting only: <paramref name="by"/> is already at most the share of the probe's delta that the
    /// candidate's own setting never came under (<see cref="ProbedCandidates"/>). <see cref="Built"/> follows, with the probe's delta.
    /// </summary>
    void Probed(IDeltaAlgorithm algorithm, BuiltDelta probe, BuiltDelta by) { }

    /// <summary>The candidate failed (building, or its delta did not reproduce the target); another is used.</summary>
    void Failed(IDeltaAlgorithm algorithm, Exception error) { }
}

/// <summary>
/// <c>auto</c>: builds each candidate of <see cref="DeltaAlgorithms.Choose"/> in turn (the likely smallest first)
/// while the budget lasts, leaving out those a built one outclasses (<see cref="OutclassedCandidates"/>), keeps the
/// smallest, and checks that it reproduces the target. The budget is a deadline for every candidate after the first
/// delta built: one still building when it passes is stopped (a zstd at level 19 on a 240 MiB image takes minutes),
/// so only the first delta, which there must be, can take longer (the server bounds the whole build apart). A candidate that fails, or whose
/// delta does not reproduce the target, gives way to the next smallest (the plain algorithms stay candidates
/// beside the smart ones). The server and <c>doras-delta diff --algorithm auto</c> both go through here, so both
/// send the same bytes for the same pair.
/// </summary>
public sealed class SmallestDelta(TimeSpan budget, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The server's default budget (<c>Delta:AutoBudget</c>).</summary>
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Builds the candidates into <paramref name="workDirectory"/> (one file each, named after the algorithm) and
    /// returns the smallest, verified, with all that were built. A candidate that refuses the pair
    /// (<see cref="IncompatibleArtifactException"/>) is skipped when there are others.
    /// </summary>
    public async Task<(BuiltDelta Smallest, IReadOnlyList<BuiltDelta> Built)> BuildAsync(
        IReadOnlyList<IDeltaAlgorithm> candidates, DeltaInput oldVersion, DeltaInput newVersion, string workDirectory,
        ISmallestDeltaObserver? observer = null, CancellationToken ct = default)
    {
        var started = _time.GetTimestamp();
        var built = new List<BuiltDelta>();
        var leftOut = new List<IDeltaAlgorithm>();
        // Candidates whose own setting was not built because a smaller delta (By) was already there.
        var probedOnly = new List<(IDeltaAlgorithm Candidate, BuiltDelta Probe, BuiltDelta By)>();
        // Set when the budget cut a candidate off: no later one is tried (the timer and the clock may disagree by a
        // millisecond about whether the budget is spent).
        var spent = false;
        // One algorithm's delta into the work directory; null when it refused the pair, failed (and others remain) or,
        // when <paramref name="bounded"/>, was cut off by the budget.
        async Task<BuiltDelta?> TryBuildAsync(IDeltaAlgorithm algorithm, string fileName, bool bounded)
        {
            var path = Path.Combine(workDirectory, fileName);
            var encoding = Stopwatch.StartNew();
            using var deadline = bounded ? Deadline(Remaining()) : null;
            using var linked = deadline is null ? null : CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
            // Create, not CreateNew: the fallback after failed checks may build a left-out candidate's probe again.
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            var hashing = new HashingWriteStream(file);
            try
            {
                await using (file)
                    await algorithm.EncodeAsync(oldVersion, newVersion, hashing, linked?.Token ?? ct).ConfigureAwait(false);
            }
            // A cancelled build can surface as another error (a codec whose input stopped short): it is the build's
            // end, never a candidate's failure to fall back from.
            catch (Exception e) when (e is not OperationCanceledException && ct.IsCancellationRequested)
            {
                throw new OperationCanceledException($"building {algorithm.Name} was cancelled", e, ct);
            }
            // The same when only the budget ran out: this candidate ends, and the deltas built stand.
            catch (Exception) when (deadline?.IsCancellationRequested == true && !ct.IsCancellationRequested)
            {
                File.Delete(path);
                observer?.CutOff(algorithm, budget);
                spent = true;
                return null;
            }
            catch (IncompatibleArtifactException e) when (candidates.Count > 1)
            {
                observer?.Refused(algorithm, e.Message);
                return null;
            }
            catch (Exception e) when (candidates.Count > 1 && e is not OperationCanceledException)
            {
                observer?.Failed(algorithm, e);
                return null;
            }
            return new BuiltDelta(algorithm, path, hashing.Digest, hashing.BytesWritten, encoding.Elapsed);
        }

        TimeSpan Remaining()
        {
            if (spent) return TimeSpan.Zero;
            var left = budget - _time.GetElapsedTime(started);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
        // After the first delta built, each candidate's build is bounded by what is left of the budget.
        bool Bounded() => built.Count > 0;

        foreach (var candidate in candidates)
        {
            ct.ThrowIfCancellationRequested();
            if (built.Count > 0 && Remaining() <= TimeSpan.Zero)
            {
                observer?.NotTried(candidate, budget);
                break;
            }
            if (OutclassedCandidates.By(candidate, built, newVersion.Size) is { } outclassing)
            {
                observer?.Outclassed(candidate, outclassing);
                leftOut.Add(candidate);
                continue;
            }
            BuiltDelta? delta;
            if (ProbedCandidates.Probes(candidate, built, newVersion.Size))
            {
                // The cheaper setting first; the candidate's own only when the probe leaves it a chance.
                var probing = Stopwatch.StartNew();
                var probe = await TryBuildAsync(candidate.Profile.Probe!, "delta-" + candidate.Name + "-probe", Bounded()).ConfigureAwait(false);
                if (Bounded() && Remaining() <= TimeSpan.Zero)
                {
                    // The budget ran out in the probe (cut off) or just after it: the probe's delta, if any, stands.
                    if (probe is not null)
                    {
                        observer?.Built(probe);
                        built.Add(probe);
                    }
                    observer?.NotTried(candidate, budget);
                    break;
                }
                if (probe is not null && ProbedCandidates.By(candidate, probe, built) is { } enough)
                {
                    observer?.Probed(candidate, probe, enough);
                    leftOut.Add(candidate);
                    probedOnly.Add((candidate, probe, enough));
                    delta = probe;
                }
                else
                {
                    var own = await TryBuildAsync(candidate, "delta-" + candidate.Name, Bounded()).ConfigureAwait(false);
                    // The smaller of the two stands for the candidate (the probe's on a tie: built first), timed as both.
                    delta = probe is null || (own is not null && own.Size < probe.Size) ? own : probe;
                    var other = ReferenceEquals(delta, own) ? probe : own;
                    if (other is not null) File.Delete(other.Path);
                    if (delta is not null && other is not null) delta = delta with { Elapsed = probing.Elapsed };
                }
            }
            else
                delta = await TryBuildAsync(candidate, "delta-" + candidate.Name, Bounded()).ConfigureAwait(false);
            if (delta is null) continue; // refused, failed, or cut off (then the budget is spent: the loop ends above)
            observer?.Built(delta);
            built.Add(delta);
        }
        if (built.Count == 0) throw new IncompatibleArtifactException("none of the candidate algorithms can make this delta");
        // Smallest first; ties go to the one built first (OrderBy is stable).
        var pending = built.OrderBy(b => b.Size).ToList();
        while (pending.Count > 0)
        {
            var delta = pending[0];
            pending.RemoveAt(0);
            try
            {
                await VerifyRoundTripAsync(delta, oldVersion, new DeltaTarget(newVersion.Digest, newVersion.Size), ct).ConfigureAwait(false);
                return (delta, built);
            }
            catch (Exception e) when (e is not OperationCanceledException && ct.IsCancellationRequested)
            {
                throw new OperationCanceledException($"verifying {delta.Algorithm.Name} was cancelled", e, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A candidate left at its probe because of this delta (or whose probe this is) gets its own setting now:
                // the probe's verdict assumed this delta would be sent.
                var reopened = probedOnly.Where(p => p.By == delta || p.Probe == delta).ToList();
                if (pending.Count == 0 && leftOut.Count == 0 && reopened.Count == 0) throw;
                observer?.Failed(delta.Algorithm, e);
                foreach (var (candidate, _, _) in reopened)
                {
                    probedOnly.RemoveAll(p => p.Candidate == candidate);
                    leftOut.Remove(candidate);
                    // Not bounded by the budget: the delta that decided against it failed, and this is what stands for it.
                    if (await TryBuildAsync(candidate, "delta-" + candidate.Name, bounded: false).ConfigureAwait(false) is not { } own) continue;
                    observer?.Built(own);
                    built.Add(own);
                    var at = pending.FindIndex(p => p.Size > own.Size);
                    pending.Insert(at < 0 ? pending.Count : at, own);
                }
            }
        }
        // Every delta built failed its check, and some candidates were left out as outclassed by one of them: those
        // are the fallback now (the plain algorithms stay candidates whatever a smart one does).
        if (leftOut.Count == 0) throw new InvalidOperationException("no candidate's delta reproduced the new version");
        return await BuildAsync(leftOut, oldVersion, newVersion, workDirectory, observer, ct).ConfigureAwait(false);
    }

    /// <summary>A source cancelled after <paramref name="delay"/>; none where the delay is beyond what a timer takes (about 49 days): no deadline then.</summary>
    private CancellationTokenSource? Deadline(TimeSpan delay) =>
        delay.TotalMilliseconds < uint.MaxValue - 1 ? new CancellationTokenSource(delay, _time) : null;

    /// <summary>A delta is only used once applying it gives the target, digest for digest.</summary>
    private static async Task VerifyRoundTripAsync(BuiltDelta built, DeltaInput oldVersion, DeltaTarget target, CancellationToken ct)
    {
        await using var delta = new FileStream(built.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        using var hashing = new HashingWriteStream(Stream.Null);
        await built.Algorithm.ApplyAsync(oldVersion, delta, hashing, target, ct).ConfigureAwait(false);
        var produced = hashing.Digest;
        if (produced != target.Digest || hashing.BytesWritten != target.Size)
            throw new InvalidOperationException($"the delta reproduces {produced} ({hashing.BytesWritten} bytes) instead of {target.Digest} ({target.Size} bytes)");
    }
}

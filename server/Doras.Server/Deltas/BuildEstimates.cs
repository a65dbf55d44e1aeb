using System.Collections.Concurrent;
using Doras.Delta.Algorithms;

namespace Doras.Server.Deltas;

/// <summary>
/// How long a build will take, from the sizes of the two versions and each algorithm's speed as measured by this
/// process (starting from conservative-fast defaults, so a first estimate errs on asking early). The delta API
/// turns the remaining time into <c>Retry-After</c>, so a device polls when the delta should be ready rather than
/// on a schedule that falls behind a long build. Before anything was measured, each algorithm's own figure
/// (<see cref="DeltaAlgorithmProfile.BytesPerSecond"/>).
/// </summary>
public sealed class BuildEstimates
{
    /// <summary>Fixed cost of a build besides encoding: downloads, verification, pushing.</summary>
    private static readonly TimeSpan Overhead = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, double> _bytesPerSecond = new(StringComparer.Ordinal);

    /// <param name="algorithms">The candidates, in the order they are built.</param>
    /// <param name="newBytes">The new version's size: <c>auto</c> leaves some candidates out past a size
    /// (<see cref="OutclassedCandidates"/>), and those are not counted.</param>
    public TimeSpan Estimate(IReadOnlyList<IDeltaAlgorithm> algorithms, long inputBytes, long newBytes = 0) =>
        Overhead + TimeSpan.FromSeconds(algorithms
            .Where(a => !OutclassedCandidates.LikelyLeftOut(a, algorithms, newBytes))
            .Sum(a => inputBytes / Speed(a)));

    /// <summary>Records one encode: the moving average follows the machine and the inputs it sees.</summary>
    public void Record(string algorithm, long inputBytes, TimeSpan elapsed)
    {
        if (inputBytes < 1 << 20 || elapsed <= TimeSpan.Zero) return; // small inputs measure overheads, not speed
        var measured = inputBytes / elapsed.TotalSeconds;
        _bytesPerSecond.AddOrUpdate(algorithm, measured, (_, old) => 0.7 * old + 0.3 * measured);
    }

    private double Speed(IDeltaAlgorithm algorithm) =>
        _bytesPerSecond.TryGetValue(algorithm.Name, out var measured) ? measured : algorithm.Profile.BytesPerSecond;
}

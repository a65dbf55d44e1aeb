using System.Collections.Concurrent;

namespace Doras.Server.Deltas;

/// <summary>
/// How long a build will take, from the sizes of the two versions and each algorithm's speed as measured by this
/// process (starting from conservative-fast defaults, so a first estimate errs on asking early). The delta API
/// turns the remaining time into <c>Retry-After</c>, so a device polls when the delta should be ready rather than
/// on a schedule that falls behind a long build.
/// </summary>
public sealed class BuildEstimates
{
    /// <summary>Bytes of input (old + new) per second before anything was measured here.</summary>
    private static readonly Dictionary<string, double> Defaults = new(StringComparer.Ordinal)
    {
        ["octodiff"] = 40e6, ["zstd"] = 8e6, ["tardiff"] = 4e6, ["deflate"] = 4e6, ["bsdiff"] = 3e6,
    };

    /// <summary>Fixed cost of a build besides encoding: downloads, verification, pushing.</summary>
    private static readonly TimeSpan Overhead = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, double> _bytesPerSecond = new(StringComparer.Ordinal);

    /// <param name="algorithms">The candidates, in the order they are built.</param>
    /// <param name="newBytes">The new version's size: <c>auto</c> leaves some candidates out past a size
    /// (<see cref="Doras.Delta.Algorithms.OutclassedCandidates"/>), and those are not counted.</param>
    public TimeSpan Estimate(IReadOnlyList<string> algorithms, long inputBytes, long newBytes = 0) =>
        Overhead + TimeSpan.FromSeconds(algorithms
            .Where(a => !Doras.Delta.Algorithms.OutclassedCandidates.LikelyLeftOut(a, algorithms, newBytes))
            .Sum(a => inputBytes / Speed(a)));

    /// <summary>Records one encode: the moving average follows the machine and the inputs it sees.</summary>
    public void Record(string algorithm, long inputBytes, TimeSpan elapsed)
    {
        if (inputBytes < 1 << 20 || elapsed <= TimeSpan.Zero) return; // small inputs measure overheads, not speed
        var measured = inputBytes / elapsed.TotalSeconds;
        _bytesPerSecond.AddOrUpdate(algorithm, measured, (_, old) => 0.7 * old + 0.3 * measured);
    }

    private double Speed(string algorithm) =>
        _bytesPerSecond.TryGetValue(algorithm, out var measured) ? measured : Defaults.GetValueOrDefault(algorithm, 3e6);
}

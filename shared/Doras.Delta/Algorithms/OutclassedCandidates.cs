namespace Doras.Delta.Algorithms;

/// <summary>
/// Candidates of <c>auto</c> that need not be built once bsdiff-lzma is, because they came out larger on the pairs
/// measured (benchmarks/RESULTS.md, runs of 2026-11-28): bsdiff codes the same records with zstd, 10-13 % larger on
/// the npm executables (on synthetic edits of random bytes it was up to 2.7 %, 61 bytes, smaller: zstd stores
/// incompressible bytes a little tighter); zstd's patch and Octodiff came near it only on versions that share little
/// (compressed files, where every delta was 89-97 % of the download). Skipping them is most of <c>auto</c>'s build
/// time on executables. Only for versions of <see cref="MinNewBytes"/> or more: below, every candidate is cheap to
/// build and a format's fixed overhead of a few bytes can decide.
/// </summary>
public static class OutclassedCandidates
{
    public const long MinNewBytes = 1 << 20;

    /// <summary>Past this share of the new version's size, zstd and Octodiff are built after all.</summary>
    private const int SharedLittleDivisor = 4;

    /// <summary>
    /// Whether <paramref name="candidate"/> will most likely not be built in this list: bsdiff-lzma is built before it
    /// and the new version is large enough, so only a delta over a quarter of the new version would let it through
    /// (versions that share little). For estimates of a build's time, which had rather come out short than long.
    /// </summary>
    public static bool LikelyLeftOut(string candidate, IReadOnlyList<string> candidates, long newSize)
    {
        if (newSize < MinNewBytes || candidate is not (BsdiffAlgorithm.AlgorithmName or ZstdPatchAlgorithm.AlgorithmName or OctodiffAlgorithm.AlgorithmName))
            return false;
        foreach (var name in candidates)
        {
            if (name == BsdiffLzmaAlgorithm.AlgorithmName) return true; // built first
            if (name == candidate) return false;
        }
        return false;
    }

    /// <summary>The built delta that leaves <paramref name="candidate"/> no chance, or null when it should be built.</summary>
    public static BuiltDelta? By(IDeltaAlgorithm candidate, IReadOnlyList<BuiltDelta> built, long newSize)
    {
        if (newSize < MinNewBytes || built.FirstOrDefault(b => b.Algorithm.Name == BsdiffLzmaAlgorithm.AlgorithmName) is not { } lzma) return null;
        return candidate.Name switch
        {
            BsdiffAlgorithm.AlgorithmName => lzma,
            ZstdPatchAlgorithm.AlgorithmName or OctodiffAlgorithm.AlgorithmName when lzma.Size * SharedLittleDivisor < newSize => lzma,
            _ => null,
        };
    }
}

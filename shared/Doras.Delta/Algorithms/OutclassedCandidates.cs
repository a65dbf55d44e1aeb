namespace Doras.Delta.Algorithms;

/// <summary>
/// Candidates of <c>auto</c> that need not be built once a stronger bsdiff is, because they came out larger on the
/// pairs measured (benchmarks/RESULTS.md):
/// <list type="bullet">
/// <item>bsdiff-exe (runs of 2026-11-28, afternoon): 27-35 % smaller than bsdiff-lzma on the npm executables, x64
/// and ARM64; it only builds for ELF files, and everything bsdiff-lzma outclasses it outclasses too.</item>
/// <item>bsdiff-lzma: bsdiff codes the same records with zstd, 10-13 % larger on the npm executables (on synthetic
/// edits of random bytes it was up to 2.7 %, 61 bytes, smaller: zstd stores incompressible bytes a little tighter);
/// zstd's patch and Octodiff came near it only on versions that share little (compressed files, where every delta
/// was 89-97 % of the download).</item>
/// </list>
/// Skipping them is most of <c>auto</c>'s build time on executables. Only for versions of <see cref="MinNewBytes"/>
/// or more: below, every candidate is cheap to build and a format's fixed overhead of a few bytes can decide.
/// </summary>
public static class OutclassedCandidates
{
    public const long MinNewBytes = 1 << 20;

    /// <summary>Past this share of the new version's size, zstd and Octodiff are built after all.</summary>
    private const int SharedLittleDivisor = 4;

    /// <summary>The candidates whose delta can outclass others, the stronger first (<see cref="DeltaAlgorithms"/> builds them in this order).</summary>
    private static readonly string[] Outclassing = [BsdiffExeAlgorithm.AlgorithmName, BsdiffLzmaAlgorithm.AlgorithmName];

    /// <summary>
    /// Whether <paramref name="candidate"/> will most likely not be built in this list, for estimates of a build's time
    /// (which had rather come out short than long): past <see cref="MinNewBytes"/>, bsdiff, zstd and Octodiff when
    /// bsdiff-exe or bsdiff-lzma comes before them (only a delta over a quarter of the new version lets zstd and
    /// Octodiff through), and bsdiff-lzma when bsdiff-exe does: bsdiff-exe either builds and outclasses it or refuses
    /// at once (not an ELF file), so one of the two costs a build.
    /// </summary>
    public static bool LikelyLeftOut(string candidate, IReadOnlyList<string> candidates, long newSize)
    {
        if (newSize < MinNewBytes || candidate is not (BsdiffLzmaAlgorithm.AlgorithmName or BsdiffAlgorithm.AlgorithmName or ZstdPatchAlgorithm.AlgorithmName or OctodiffAlgorithm.AlgorithmName))
            return false;
        foreach (var name in candidates)
        {
            if (name == candidate) return false;
            if (Outclassing.Contains(name)) return true; // built first
        }
        return false;
    }

    /// <summary>The built delta that leaves <paramref name="candidate"/> no chance, or null when it should be built.</summary>
    public static BuiltDelta? By(IDeltaAlgorithm candidate, IReadOnlyList<BuiltDelta> built, long newSize)
    {
        if (newSize < MinNewBytes) return null;
        var strongest = Outclassing.Select(name => built.FirstOrDefault(b => b.Algorithm.Name == name)).FirstOrDefault(b => b is not null);
        if (strongest is null || Array.IndexOf(Outclassing, candidate.Name) is var rank && rank >= 0 && rank <= Array.IndexOf(Outclassing, strongest.Algorithm.Name))
            return null;
        return candidate.Name switch
        {
            BsdiffLzmaAlgorithm.AlgorithmName or BsdiffAlgorithm.AlgorithmName => strongest,
            ZstdPatchAlgorithm.AlgorithmName or OctodiffAlgorithm.AlgorithmName when strongest.Size * SharedLittleDivisor < newSize => strongest,
            _ => null,
        };
    }
}

namespace Doras.Delta.Algorithms;

/// <summary>
/// Candidates of <c>auto</c> that need not be built once a stronger one is, because they came out larger on the
/// pairs measured (benchmarks/RESULTS.md). Each algorithm's profile says how strong its deltas are
/// (<see cref="DeltaAlgorithmProfile.OutclassingStrength"/>) and when it gives way
/// (<see cref="DeltaAlgorithmProfile.LeftOut"/>); the measurements behind them are noted where they are declared.
/// Skipping them is most of <c>auto</c>'s build time on executables. Only for versions of <see cref="MinNewBytes"/>
/// or more: below, every candidate is cheap to build and a format's fixed overhead of a few bytes can decide.
/// </summary>
public static class OutclassedCandidates
{
    public const long MinNewBytes = 1 << 20;

    /// <summary>Past this share of the new version's size, <see cref="Outclassed.UnlessVersionsShareLittle"/> candidates are built after all.</summary>
    private const int SharedLittleDivisor = 4;

    /// <summary>
    /// Whether <paramref name="candidate"/> will most likely not be built in this list, for estimates of a build's time
    /// (which had rather come out short than long): past <see cref="MinNewBytes"/>, one that gives way when a stronger
    /// one comes before it (whatever the stronger delta's size). A stronger one either builds and outclasses it or
    /// refuses at once (bsdiff-exe: not an ELF file), so one of the two costs a build.
    /// </summary>
    public static bool LikelyLeftOut(IDeltaAlgorithm candidate, IReadOnlyList<IDeltaAlgorithm> candidates, long newSize)
    {
        if (newSize < MinNewBytes || candidate.Profile.LeftOut == Outclassed.Never)
            return false;
        foreach (var other in candidates)
        {
            if (other.Name == candidate.Name) return false;
            if (other.Profile.OutclassingStrength > candidate.Profile.OutclassingStrength && other.Profile.OutclassingStrength >= candidate.Profile.LeftOutOnlyFrom)
                return true; // built first
        }
        return false;
    }

    /// <summary>The built delta that leaves <paramref name="candidate"/> no chance, or null when it should be built.</summary>
    public static BuiltDelta? By(IDeltaAlgorithm candidate, IReadOnlyList<BuiltDelta> built, long newSize)
    {
        if (newSize < MinNewBytes) return null;
        var strongest = built.Where(b => b.Algorithm.Profile.OutclassingStrength > 0).MaxBy(b => b.Algorithm.Profile.OutclassingStrength);
        if (strongest is null || candidate.Profile.OutclassingStrength >= strongest.Algorithm.Profile.OutclassingStrength
            || strongest.Algorithm.Profile.OutclassingStrength < candidate.Profile.LeftOutOnlyFrom)
            return null;
        return candidate.Profile.LeftOut switch
        {
            Outclassed.Always => strongest,
            Outclassed.UnlessVersionsShareLittle when strongest.Size * SharedLittleDivisor < newSize => strongest,
            _ => null,
        };
    }
}

/// <summary>
/// Candidates of <c>auto</c> with a <see cref="DeltaAlgorithmProfile.Probe"/>: a cheaper setting of the same algorithm is
/// built first, and the candidate's own setting only when the smallest delta built so far is over
/// <see cref="DeltaAlgorithmProfile.ProbeShare"/> of the probe's, that is when the own setting may still come out smallest.
/// Otherwise the probe's delta stands for the candidate (it is a delta of the same format, and kept if smallest).
/// The shares and the measurements behind them are noted where the profiles are declared.
/// </summary>
public static class ProbedCandidates
{
    /// <summary>Whether <paramref name="candidate"/> is probed first: past <see cref="OutclassedCandidates.MinNewBytes"/>, once another delta is built.</summary>
    public static bool Probes(IDeltaAlgorithm candidate, IReadOnlyList<BuiltDelta> built, long newSize) =>
        candidate.Profile.Probe is not null && candidate.Profile.ProbeShare > 0 && built.Count > 0 && newSize >= OutclassedCandidates.MinNewBytes;

    /// <summary>The built delta that leaves <paramref name="candidate"/>'s own setting no chance after its <paramref name="probe"/>, or null when it should be built.</summary>
    public static BuiltDelta? By(IDeltaAlgorithm candidate, BuiltDelta probe, IReadOnlyList<BuiltDelta> built)
    {
        var smallest = built.MinBy(b => b.Size);
        return smallest is not null && smallest.Size <= probe.Size * candidate.Profile.ProbeShare ? smallest : null;
    }
}

namespace Doras.Delta.Algorithms;

/// <summary>
/// What an algorithm says about itself beyond its name and media type. <see cref="DeltaAlgorithms"/> derives the
/// rest from it (the devices' default list, <c>auto</c>'s order and leave-out rules, build estimates, help), so a
/// new algorithm is its own files and one registration line. The defaults fit a plain algorithm that any device
/// applies, built among the last by <c>auto</c>.
/// </summary>
public sealed record DeltaAlgorithmProfile
{
    public static readonly DeltaAlgorithmProfile Plain = new();

    /// <summary>A few words for help after the name, e.g. what it makes deltas of when that is not any pair; null: nothing to add.</summary>
    public string? Description { get; init; }

    /// <summary>
    /// Whether its decoder loads on this machine (a native library it needs is there): devices list it in their
    /// default <c>accepted_algorithm</c> list only then.
    /// </summary>
    public bool AppliesHere { get; init; } = true;

    /// <summary>Input bytes (old + new) per second it builds before anything was measured: the server's first estimates.</summary>
    public double BytesPerSecond { get; init; } = 3e6;

    /// <summary><c>auto</c> builds its candidates in this order, lowest first (the likely smallest first; ties by name).</summary>
    public int AutoOrder { get; init; } = 5;

    /// <summary>
    /// Above zero: a delta of this algorithm can make candidates of a lower strength pointless
    /// (<see cref="OutclassedCandidates"/>); <c>auto</c> must then build it before them (<see cref="AutoOrder"/>).
    /// </summary>
    public int OutclassingStrength { get; init; }

    /// <summary>When a built delta of a stronger algorithm leaves this one out of <c>auto</c>.</summary>
    public Outclassed LeftOut { get; init; } = Outclassed.Never;

    /// <summary>
    /// The least <see cref="OutclassingStrength"/> whose delta leaves this one out: its rule holds only against deltas as
    /// strong as those it was measured against (a rule measured on executables against bsdiff-exe says nothing of text).
    /// </summary>
    public int LeftOutOnlyFrom { get; init; } = 1;

    /// <summary>
    /// A cheaper setting of the same algorithm (same name and format: any device that applies one applies the other) that
    /// <c>auto</c> builds first once another candidate was built, past <see cref="OutclassedCandidates.MinNewBytes"/>; the
    /// algorithm's own setting is then built only when the smallest delta so far is over <see cref="ProbeShare"/> of the
    /// probe's (<see cref="ProbedCandidates"/>). Null: always built as it is.
    /// </summary>
    public IDeltaAlgorithm? Probe { get; init; }

    /// <summary>
    /// With a <see cref="Probe"/>: the algorithm's own delta never came out under this share of its probe's on the pairs
    /// measured (with a margin), so a delta already built at or under it leaves the own setting no chance.
    /// </summary>
    public double ProbeShare { get; init; }
}

/// <summary>When a candidate of <c>auto</c> gives way to a stronger algorithm's delta (past <see cref="OutclassedCandidates.MinNewBytes"/>).</summary>
public enum Outclassed
{
    /// <summary>It is always built.</summary>
    Never,

    /// <summary>Whenever a stronger one was built: it never came out smaller.</summary>
    Always,

    /// <summary>Unless the stronger delta is over a quarter of the new version: versions that share little are where it came near.</summary>
    UnlessVersionsShareLittle,
}

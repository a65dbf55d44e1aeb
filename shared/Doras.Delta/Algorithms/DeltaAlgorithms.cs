using Doras.Delta.Artifacts;

namespace Doras.Delta.Algorithms;

/// <summary>The delta algorithms this build knows, by the names clients use in <c>accepted_algorithm</c>.</summary>
public sealed class DeltaAlgorithms(IEnumerable<IDeltaAlgorithm> algorithms)
{
    private readonly Dictionary<string, IDeltaAlgorithm> _byName = algorithms.ToDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);

    /// <param name="bsdiffMaxInputBytes">bsdiff holds both versions and a suffix array in memory (about 9 bytes per
    /// byte); larger versions are refused, and <c>auto</c> then picks among the others.</param>
    public static DeltaAlgorithms Default(int zstdLevel = 19, int zstdWorkers = 0, long bsdiffMaxInputBytes = BsdiffAlgorithm.MaxInputBytes)
    {
        IDeltaAlgorithm[] contentAlgorithms =
        [
            new ZstdPatchAlgorithm(zstdLevel, zstdWorkers),
            new BsdiffAlgorithm(zstdLevel, zstdWorkers, bsdiffMaxInputBytes),
            new TardiffAlgorithm(zstdLevel, zstdWorkers, bsdiffMaxInputBytes),
        ];
        // bsdiff-lzma is not inside deflate: devices that accept deflate but not bsdiff-lzma could not apply it.
        return new([.. contentAlgorithms, new BsdiffLzmaAlgorithm(bsdiffMaxInputBytes), new BsdiffExeAlgorithm(bsdiffMaxInputBytes), new OctodiffAlgorithm(zstdLevel), new DeflateAlgorithm(contentAlgorithms)]);
    }

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IDeltaAlgorithm? Find(string name) => _byName.GetValueOrDefault(name);

    public IDeltaAlgorithm? FindByMediaType(string mediaType) =>
        _byName.Values.FirstOrDefault(a => a.MediaType == mediaType);

    /// <summary>The name a client lists to let the server pick the smallest delta among the others it lists.</summary>
    public const string Auto = "auto";

    /// <summary>
    /// What the edge client lists unless told otherwise, on a machine with this one's libraries: <c>auto</c> and every
    /// algorithm whose decoder loads here (bsdiff-exe and bsdiff-lzma decode with the system's liblzma, deflate
    /// recompresses with its zlib). The server's precomputed deltas are made for this list too.
    /// </summary>
    public static IReadOnlyList<string> DeviceDefaults { get; } =
        [Auto, ZstdPatchAlgorithm.AlgorithmName, BsdiffAlgorithm.AlgorithmName,
         .. (Lzma.LzmaLibrary.IsAvailable ? new[] { BsdiffExeAlgorithm.AlgorithmName, BsdiffLzmaAlgorithm.AlgorithmName } : []),
         OctodiffAlgorithm.AlgorithmName, TardiffAlgorithm.AlgorithmName,
         .. (Deflate.ZlibLibrary.IsAvailable ? new[] { DeflateAlgorithm.AlgorithmName } : [])];

    /// <summary>Every name a client may list: <c>auto</c> and each algorithm.</summary>
    public IEnumerable<string> AcceptedNames => Names.Prepend(Auto);

    /// <summary>
    /// What to serve or build for a client's list of preferences and an artifact of <paramref name="kind"/>: with
    /// <c>auto</c> in it, every other listed algorithm we know that applies (all of ours if it lists none), to keep
    /// the smallest; otherwise the first listed that applies. Null when nothing fits. Stored deltas are looked up
    /// under names that do not depend on the order or the extent of the list: an <c>auto</c> delta built over all
    /// our algorithms serves every client that accepts the algorithm it chose.
    /// </summary>
    public DeltaChoice? Choose(IReadOnlyCollection<string> accepted, ArtifactKind kind)
    {
        var listed = accepted.Select(Find).OfType<IDeltaAlgorithm>().Distinct().ToList();
        var applicable = listed.Where(a => AppliesTo(a, kind)).ToList();
        var everything = AutoName(_byName.Values);
        if (accepted.Any(a => string.Equals(a, Auto, StringComparison.OrdinalIgnoreCase)))
        {
            var all = listed.Count == 0 || _byName.Values.All(listed.Contains);
            var candidates = (all ? [.. _byName.Values] : applicable).Where(a => AppliesTo(a, kind))
                // The likely smallest first: the budget may stop the rest.
                .OrderBy(a => BuildRank(a.Name)).ThenBy(a => a.Name, StringComparer.Ordinal).ToList();
            if (candidates.Count == 0) return null;
            var name = all ? everything : AutoName(listed);
            var acceptable = (all ? [.. _byName.Values] : listed).Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
            return new DeltaChoice(name, candidates, name == everything ? [name] : [everything, name], acceptable);
        }
        if (applicable.Count == 0) return null;
        return new DeltaChoice(applicable[0].Name, [applicable[0]], [.. applicable.Select(a => a.Name), everything],
            applicable.Select(a => a.Name).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>Why <see cref="Choose"/> found nothing, for the 406 the client gets.</summary>
    public string WhyNone(IReadOnlyCollection<string> accepted, ArtifactKind kind)
    {
        var known = accepted.Select(Find).OfType<IDeltaAlgorithm>().Distinct().ToList();
        if (known.Count == 0 && !accepted.Any(a => string.Equals(a, Auto, StringComparison.OrdinalIgnoreCase)))
            return $"none of the accepted algorithms ({string.Join(", ", accepted)}) is supported; this server supports: {string.Join(", ", AcceptedNames)}";
        var kindName = kind.ToString().ToLowerInvariant();
        return $"none of the accepted algorithms ({string.Join(", ", accepted)}) makes deltas between {kindName} artifacts: "
            + string.Join("; ", known.Select(a => a is IArtifactKindSpecific only ? $"{a.Name} is for {only.Kind.ToString().ToLowerInvariant()} artifacts only" : a.Name));
    }

    private static bool AppliesTo(IDeltaAlgorithm algorithm, ArtifactKind kind) =>
        algorithm is not IArtifactKindSpecific specific || specific.Kind == kind;

    private static string AutoName(IEnumerable<IDeltaAlgorithm> algorithms) =>
        Auto + ":" + string.Join("+", algorithms.Select(a => a.Name).Order(StringComparer.Ordinal));

    /// <summary>
    /// The likely smallest first: tardiff and deflate (they refuse at once what they do not apply to, and where they
    /// apply they are the ones made for it), then bsdiff-exe (it refuses all but ELF files as soon as it has read
    /// them) and bsdiff-lzma, whose deltas can make the rest pointless (<see cref="OutclassedCandidates"/>), then
    /// bsdiff, zstd and Octodiff, in the order they came out on the npm pairs. A budget that runs out stops the least likely.
    /// </summary>
    private static int BuildRank(string name) => name switch
    {
        TardiffAlgorithm.AlgorithmName or DeflateAlgorithm.AlgorithmName => 0,
        BsdiffExeAlgorithm.AlgorithmName => 1,
        BsdiffLzmaAlgorithm.AlgorithmName => 2,
        BsdiffAlgorithm.AlgorithmName => 3,
        ZstdPatchAlgorithm.AlgorithmName => 4,
        _ => 5,
    };
}

/// <summary>What <see cref="DeltaAlgorithms.Choose"/> decided for one request.</summary>
/// <param name="Name">The name a new build is stored under (part of its key).</param>
/// <param name="Candidates">The algorithms that build tries, the likely smallest first.</param>
/// <param name="StoredNames">Names under which an acceptable stored delta may already be, most preferred first.</param>
/// <param name="Acceptable">Algorithms the client can apply: a stored delta made by another one is not served.</param>
public sealed record DeltaChoice(string Name, IReadOnlyList<IDeltaAlgorithm> Candidates, IReadOnlyList<string> StoredNames, IReadOnlySet<string> Acceptable);

/// <summary>
/// An optional capability: an algorithm that makes deltas for one kind of artifact only (tardiff for directories,
/// deflate for files). Algorithms without it apply to any.
/// </summary>
public interface IArtifactKindSpecific
{
    ArtifactKind Kind { get; }
}

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
        return new([.. contentAlgorithms, new OctodiffAlgorithm(zstdLevel), new DeflateAlgorithm(contentAlgorithms)]);
    }

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IDeltaAlgorithm? Find(string name) => _byName.GetValueOrDefault(name);

    public IDeltaAlgorithm? FindByMediaType(string mediaType) =>
        _byName.Values.FirstOrDefault(a => a.MediaType == mediaType);

    /// <summary>The name a client lists to let the server pick the smallest delta among the others it lists.</summary>
    public const string Auto = "auto";

    /// <summary>
    /// What to build for a client's list of preferences: with <c>auto</c> in it, every other listed algorithm we
    /// know (all of ours if it lists none), to keep the smallest; otherwise the first listed that we know.
    /// Null when nothing fits. The name identifies the choice in the delta's key.
    /// </summary>
    public (string Name, IReadOnlyList<IDeltaAlgorithm> Candidates)? Choose(IReadOnlyCollection<string> accepted)
    {
        if (accepted.Any(a => string.Equals(a, Auto, StringComparison.OrdinalIgnoreCase)))
        {
            var listed = accepted.Select(Find).OfType<IDeltaAlgorithm>().Distinct().ToList();
            var candidates = listed.Count > 0 ? listed : [.. _byName.Values];
            // Cheapest builds first: the budget may stop the rest.
            candidates = [.. candidates.OrderBy(a => BuildCostRank(a.Name)).ThenBy(a => a.Name, StringComparer.Ordinal)];
            return (Auto + ":" + string.Join("+", candidates.Select(a => a.Name).Order(StringComparer.Ordinal)), candidates);
        }
        return accepted.Select(Find).FirstOrDefault(a => a is not null) is { } chosen ? (chosen.Name, [chosen]) : null;
    }

    /// <summary>
    /// Cheapest first; tardiff and deflate before bsdiff because they refuse at once what they do not apply to,
    /// and where they do apply (tar, gzip, zip) they are the ones the budget must not leave out.
    /// </summary>
    private static int BuildCostRank(string name) => name switch
    {
        OctodiffAlgorithm.AlgorithmName => 0,
        ZstdPatchAlgorithm.AlgorithmName => 1,
        TardiffAlgorithm.AlgorithmName or DeflateAlgorithm.AlgorithmName => 2,
        _ => 3,
    };
}

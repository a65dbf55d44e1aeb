namespace Doras.Delta.Algorithms;

/// <summary>The delta algorithms this build knows, by the names clients use in <c>accepted_algorithm</c>.</summary>
public sealed class DeltaAlgorithms(IEnumerable<IDeltaAlgorithm> algorithms)
{
    private readonly Dictionary<string, IDeltaAlgorithm> _byName = algorithms.ToDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);

    public static DeltaAlgorithms Default(int zstdLevel = 19, int zstdWorkers = 0) =>
        new([new ZstdPatchAlgorithm(zstdLevel, zstdWorkers), new BsdiffAlgorithm(zstdLevel, zstdWorkers), new OctodiffAlgorithm(zstdLevel)]);

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IDeltaAlgorithm? Find(string name) => _byName.GetValueOrDefault(name);

    public IDeltaAlgorithm? FindByMediaType(string mediaType) =>
        _byName.Values.FirstOrDefault(a => a.MediaType == mediaType);

    /// <summary>The first algorithm in the client's list of preferences that we know, or null.</summary>
    public IDeltaAlgorithm? Choose(IEnumerable<string> accepted) =>
        accepted.Select(Find).FirstOrDefault(a => a is not null);
}

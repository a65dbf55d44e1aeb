using Doras.Delta.Artifacts;

namespace Doras.Delta.Algorithms;

/// <summary>
/// The delta algorithms this build knows, by the names clients use in <c>accepted_algorithm</c>, in the order they
/// were registered: the order devices prefer them in (<see cref="DeviceDefaults"/>). Every list of names, <c>auto</c>'s
/// candidates and the help text derive from the registrations and each one's <see cref="IDeltaAlgorithm.Profile"/>.
/// </summary>
public sealed class DeltaAlgorithms
{
    private readonly IReadOnlyList<IDeltaAlgorithm> _registered;
    private readonly Dictionary<string, IDeltaAlgorithm> _byName;

    /// <summary>
    /// A name registered twice throws (clients could not tell the two apart), and so does one a client could not
    /// list: <c>auto</c>, or anything but lowercase letters, digits and '-' (lists are comma-separated, <c>auto</c>'s
    /// stored names joined with '+').
    /// </summary>
    public DeltaAlgorithms(IEnumerable<IDeltaAlgorithm> algorithms)
    {
        _registered = [.. algorithms];
        if (_registered.FirstOrDefault(a => a.Name == Auto || a.Name.Length == 0 || !a.Name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')) is { } unlistable)
            throw new ArgumentException($"'{unlistable.Name}' cannot be an algorithm's name: clients list lowercase letters, digits and '-', and 'auto' is taken");
        _byName = _registered.ToDictionary(a => a.Name, StringComparer.OrdinalIgnoreCase);
        DeviceDefaults = [Auto, .. _registered.Where(a => a.Profile.AppliesHere).Select(a => a.Name)];
    }

    /// <param name="bsdiffMaxInputBytes">bsdiff holds both versions and a suffix array in memory (about 9 bytes per
    /// byte); larger versions are refused, and <c>auto</c> then picks among the others.</param>
    /// <param name="more">Algorithms registered after ours (the server's are those in its services).</param>
    public static DeltaAlgorithms Default(int zstdLevel = 19, int zstdWorkers = 0, long bsdiffMaxInputBytes = BsdiffAlgorithm.MaxInputBytes,
        IEnumerable<IDeltaAlgorithm>? more = null)
    {
        var zstd = new ZstdPatchAlgorithm(zstdLevel, zstdWorkers);
        var bsdiff = new BsdiffAlgorithm(zstdLevel, zstdWorkers, bsdiffMaxInputBytes);
        var tardiff = new TardiffAlgorithm(zstdLevel, zstdWorkers, bsdiffMaxInputBytes);
        // The registrations, one line each, in the order devices prefer them.
        return new([
            zstd,
            bsdiff,
            new BsdiffExeAlgorithm(bsdiffMaxInputBytes),
            new BsdiffLzmaAlgorithm(bsdiffMaxInputBytes),
            new OctodiffAlgorithm(zstdLevel),
            tardiff,
            // bsdiff-lzma is not inside deflate: devices that accept deflate but not bsdiff-lzma could not apply it.
            new DeflateAlgorithm([zstd, bsdiff, tardiff]),
            .. more ?? [],
        ]);
    }

    /// <summary>These and <paramref name="more"/>, registered after them.</summary>
    public DeltaAlgorithms With(params IEnumerable<IDeltaAlgorithm> more) => new([.. _registered, .. more]);

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IDeltaAlgorithm? Find(string name) => _byName.GetValueOrDefault(name);

    public IDeltaAlgorithm? FindByMediaType(string mediaType) =>
        _byName.Values.FirstOrDefault(a => a.MediaType == mediaType);

    /// <summary>The name a client lists to let the server pick the smallest delta among the others it lists.</summary>
    public const string Auto = "auto";

    /// <summary>
    /// What the edge client lists unless told otherwise: <c>auto</c> and every algorithm whose decoder loads on this
    /// machine (<see cref="DeltaAlgorithmProfile.AppliesHere"/>), in the order registered. The server's precomputed
    /// deltas are made for this list too.
    /// </summary>
    public IReadOnlyList<string> DeviceDefaults { get; }

    /// <summary>For help: each algorithm in the order registered, with its description in parentheses.</summary>
    public string Listing => string.Join(", ", _registered.Select(a => a.Profile.Description is { } about ? $"{a.Name} ({about})" : a.Name));

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
                .OrderBy(a => a.Profile.AutoOrder).ThenBy(a => a.Name, StringComparer.Ordinal).ToList();
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

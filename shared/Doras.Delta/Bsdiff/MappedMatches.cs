namespace Doras.Delta.Bsdiff;

/// <summary>
/// The rule choosing which matches a prediction maps (where each old byte went, <see cref="IMatchPrediction"/>):
/// every match with bytes when there are at most <see cref="Limit"/>, else the <see cref="Limit"/> longest (of equal
/// lengths, the earlier in the new version), handed out in the order of the new version. The device holds the map
/// while applying, so its memory is bounded by the limit whatever the versions' size; the matches themselves are
/// read as a stream, and choosing keeps no more than the limit at any time. The longest matches cover most of the
/// code whose calls and addresses are predicted; a reference into a match left out is predicted as its old bytes,
/// which costs bytes, never correctness. Builder and device both choose through this class, so they predict alike.
/// </summary>
public sealed class MappedMatches
{
    // The shortest kept match first (ties: the later in the new version), so it is the one a longer match replaces.
    private readonly PriorityQueue<(BsdiffMatch Match, long Index), (long Length, long Later)> _kept = new();
    private long _index;

    public MappedMatches(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        Limit = limit;
    }

    /// <summary>The most matches mapped.</summary>
    public int Limit { get; }

    /// <summary>Offers the next match in the order of the new version; matches without bytes map nothing and are passed over.</summary>
    public void Add(in BsdiffMatch match)
    {
        var index = _index++;
        if (match.Length == 0) return;
        var priority = (match.Length, -index);
        if (_kept.Count < Limit) _kept.Enqueue((match, index), priority);
        else _kept.EnqueueDequeue((match, index), priority); // drops the shortest, which may be this one
    }

    /// <summary>The matches kept, in the order they were offered.</summary>
    public List<BsdiffMatch> ToList()
    {
        var kept = _kept.UnorderedItems.Select(item => item.Element).ToArray();
        Array.Sort(kept, (a, b) => a.Index.CompareTo(b.Index));
        return [.. kept.Select(item => item.Match)];
    }

    /// <summary>The matches of <paramref name="matches"/> that a map of at most <paramref name="limit"/> holds.</summary>
    public static List<BsdiffMatch> Choose(IEnumerable<BsdiffMatch> matches, int limit)
    {
        var chosen = new MappedMatches(limit);
        foreach (var match in matches) chosen.Add(match);
        return chosen.ToList();
    }
}

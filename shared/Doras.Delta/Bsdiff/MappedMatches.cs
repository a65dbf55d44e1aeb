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
    // A min-heap of the kept matches: the shortest (ties: the later in the new version) at the root, so it is the one a
    // longer match replaces. Entries of 40 bytes in one array grown by doubling from the capacity expected: the device
    // holds up to 65,536 of them while choosing (PriorityQueue's 56-byte entries, and the copies made to hand them out,
    // came to 12 MiB on biome). A heap known to fill is allocated whole: grown from 1,024, its copies came to as much
    // again, held by the device at its peak; one that may stay small grows, so it costs small versions little.
    private (BsdiffMatch Match, long Index)[] _heap;
    private int _count;
    private long _index;
    private bool _handedOut;

    /// <param name="limit">The most matches mapped.</param>
    /// <param name="expected">How many matches are expected to be offered: the heap is allocated for up to this many.</param>
    public MappedMatches(int limit, int expected = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        Limit = limit;
        _heap = new (BsdiffMatch, long)[Math.Clamp(expected, 1, limit)];
    }

    /// <summary>The most matches mapped.</summary>
    public int Limit { get; }

    /// <summary>Offers the next match in the order of the new version; matches without bytes map nothing and are passed over.</summary>
    public void Add(in BsdiffMatch match)
    {
        if (_handedOut) throw new InvalidOperationException("the chosen matches were handed out already");
        var index = _index++;
        if (match.Length == 0) return;
        var entry = (match, index);
        if (_count < Limit)
        {
            if (_count == _heap.Length) Array.Resize(ref _heap, (int)Math.Min(Limit, 2L * _heap.Length));
            SiftUp(_count++, entry);
        }
        else if (Shorter(_heap[0], entry)) SiftDown(0, entry); // drops the shortest; else this one is the shortest
    }

    /// <summary>The matches kept, in the order they were offered. Ends the choosing: no match may be added after.</summary>
    public IReadOnlyList<BsdiffMatch> ToList()
    {
        if (!_handedOut) Array.Sort(_heap, 0, _count, ByIndex.Instance); // in place: the heap is done
        _handedOut = true;
        return new Kept(_heap, _count);
    }

    /// <summary>The matches of <paramref name="matches"/> that a map of at most <paramref name="limit"/> holds.</summary>
    public static IReadOnlyList<BsdiffMatch> Choose(IEnumerable<BsdiffMatch> matches, int limit)
    {
        var chosen = new MappedMatches(limit, matches.TryGetNonEnumeratedCount(out var count) ? count : 1024);
        foreach (var match in matches) chosen.Add(match);
        return chosen.ToList();
    }

    /// <summary>Whether <paramref name="a"/> is mapped before <paramref name="b"/> is dropped: shorter, or as long and later.</summary>
    private static bool Shorter(in (BsdiffMatch Match, long Index) a, in (BsdiffMatch Match, long Index) b) =>
        a.Match.Length < b.Match.Length || (a.Match.Length == b.Match.Length && a.Index > b.Index);

    private void SiftUp(int at, (BsdiffMatch Match, long Index) entry)
    {
        while (at > 0)
        {
            var parent = (at - 1) >> 1;
            if (!Shorter(entry, _heap[parent])) break;
            _heap[at] = _heap[parent];
            at = parent;
        }
        _heap[at] = entry;
    }

    private void SiftDown(int at, (BsdiffMatch Match, long Index) entry)
    {
        while (true)
        {
            var child = 2 * at + 1;
            if (child >= _count) break;
            if (child + 1 < _count && Shorter(_heap[child + 1], _heap[child])) child++;
            if (!Shorter(_heap[child], entry)) break;
            _heap[at] = _heap[child];
            at = child;
        }
        _heap[at] = entry;
    }

    private sealed class ByIndex : IComparer<(BsdiffMatch Match, long Index)>
    {
        public static readonly ByIndex Instance = new();
        public int Compare((BsdiffMatch Match, long Index) x, (BsdiffMatch Match, long Index) y) => x.Index.CompareTo(y.Index);
    }

    /// <summary>The kept matches as a list, without copying them out of the heap's array.</summary>
    private sealed class Kept((BsdiffMatch Match, long Index)[] entries, int count) : IReadOnlyList<BsdiffMatch>
    {
        public int Count => count;

        public BsdiffMatch this[int index] => (uint)index < (uint)count ? entries[index].Match : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<BsdiffMatch> GetEnumerator()
        {
            for (var i = 0; i < count; i++) yield return entries[i].Match;
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

using Doras.Delta.Bsdiff;

namespace Doras.Delta.Executables;

/// <summary>
/// Where a byte of the old version went in the new one, as far as bsdiff's matches say: the new position of the
/// same byte in the match that covers it (of several, the one reaching furthest). Bytes no match covers went
/// nowhere known. About 24 bytes per match (and 4 for its bucket); a lookup is one short search, whatever the matches.
/// </summary>
internal sealed class MatchMap
{
    /// <summary>
    /// By old start (ties in the order of the new version), each with the end and shift of the match among those up
    /// to it that reaches furthest in the old version: a lookup reads one entry where three arrays cost a cache miss each.
    /// </summary>
    private readonly Entry[] _entries;
    /// <summary>
    /// For each bucket of old positions (2^<see cref="_bucketShift"/> bytes), the first match starting in it or later:
    /// a lookup searches one bucket's matches instead of all (the search was the device's largest cost on biome).
    /// About one bucket per match, so 4 more bytes per match.
    /// </summary>
    private readonly int[] _buckets;
    private readonly int _bucketShift;

    public MatchMap(IReadOnlyList<BsdiffMatch> matches)
    {
        var count = 0;
        foreach (var m in matches) if (m.Length > 0) count++;
        _entries = new Entry[count];
        var k = 0;
        foreach (var m in matches)
            if (m.Length > 0) _entries[k++] = new Entry(m.OldStart, m.OldStart + m.Length, m.NewStart - m.OldStart);
        // Of equal old starts, the smaller shift is the earlier in the new version (whose matches follow each other).
        Array.Sort(_entries);
        for (var i = 1; i < count; i++)
            if (_entries[i - 1].End >= _entries[i].End) _entries[i] = _entries[i] with { End = _entries[i - 1].End, Shift = _entries[i - 1].Shift };
        var last = count > 0 ? _entries[count - 1].OldStart : 0;
        while ((last >> _bucketShift) >= Math.Max(1, count)) _bucketShift++;
        _buckets = new int[(last >> _bucketShift) + 2];
        for (int b = 0, i = 0; b < _buckets.Length; b++)
        {
            while (i < count && (_entries[i].OldStart >> _bucketShift) < b) i++;
            _buckets[b] = i;
        }
    }

    /// <summary>The new position of the old byte at <paramref name="oldPosition"/>.</summary>
    public bool TryMap(long oldPosition, out long newPosition)
    {
        newPosition = 0;
        // The last match starting at or before the position: an upper-bound search, so equal starts cost nothing.
        // Every match before the position's bucket starts before it, every one after the bucket after it.
        if (oldPosition < 0) return false;
        var bucket = oldPosition >> _bucketShift;
        int low, high;
        if (bucket >= _buckets.Length - 1) (low, high) = (_buckets[^1], _entries.Length);
        else (low, high) = (_buckets[bucket], _buckets[bucket + 1]);
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (_entries[middle].OldStart <= oldPosition) low = middle + 1;
            else high = middle;
        }
        if (low == 0) return false;
        ref readonly var furthest = ref _entries[low - 1];
        if (furthest.End <= oldPosition) return false;
        newPosition = oldPosition + furthest.Shift;
        return true;
    }

    /// <summary>A match's old start; once built, the end and shift of the furthest-reaching match up to it.</summary>
    private readonly record struct Entry(long OldStart, long End, long Shift) : IComparable<Entry>
    {
        public int CompareTo(Entry other) => OldStart != other.OldStart ? OldStart.CompareTo(other.OldStart) : Shift.CompareTo(other.Shift);
    }
}

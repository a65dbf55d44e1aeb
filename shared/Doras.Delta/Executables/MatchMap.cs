using Doras.Delta.Bsdiff;

namespace Doras.Delta.Executables;

/// <summary>
/// Where a byte of the old version went in the new one, as far as bsdiff's matches say: the new position of the
/// same byte in the match that covers it (of several, the one reaching furthest). Bytes no match covers went
/// nowhere known. About 28 bytes per match; a lookup is one binary search, whatever the matches.
/// </summary>
internal sealed class MatchMap
{
    private readonly long[] _oldStarts;
    private readonly long[] _shifts;
    private readonly long[] _ends;
    /// <summary>For each index, the match among those up to it that reaches furthest in the old version.</summary>
    private readonly int[] _furthest;
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
        (_oldStarts, _shifts, _ends, _furthest) = (new long[count], new long[count], new long[count], new int[count]);
        var k = 0;
        foreach (var m in matches)
        {
            if (m.Length == 0) continue;
            (_oldStarts[k], _shifts[k], _ends[k]) = (m.OldStart, m.NewStart - m.OldStart, m.OldStart + m.Length);
            k++;
        }
        // By old start, ties in the order of the new version (a stable sort of indices, in place in the arrays).
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        var keys = (long[])_oldStarts.Clone();
        Array.Sort(keys, order); // unstable, so ties are put back in order below
        for (var i = 0; i < count;)
        {
            var j = i;
            while (j < count && keys[j] == keys[i]) j++;
            Array.Sort(order, i, j - i);
            i = j;
        }
        Permute(_shifts, order);
        Permute(_ends, order);
        _oldStarts = keys;
        for (var i = 0; i < count; i++)
            _furthest[i] = i > 0 && _ends[_furthest[i - 1]] >= _ends[i] ? _furthest[i - 1] : i;
        var last = count > 0 ? _oldStarts[count - 1] : 0;
        while ((last >> _bucketShift) >= Math.Max(1, count)) _bucketShift++;
        _buckets = new int[(last >> _bucketShift) + 2];
        for (int b = 0, i = 0; b < _buckets.Length; b++)
        {
            while (i < count && (_oldStarts[i] >> _bucketShift) < b) i++;
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
        if (bucket >= _buckets.Length - 1) (low, high) = (_buckets[^1], _oldStarts.Length);
        else (low, high) = (_buckets[bucket], _buckets[bucket + 1]);
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (_oldStarts[middle] <= oldPosition) low = middle + 1;
            else high = middle;
        }
        if (low == 0) return false;
        var match = _furthest[low - 1];
        if (_ends[match] <= oldPosition) return false;
        newPosition = oldPosition + _shifts[match];
        return true;
    }

    private static void Permute(long[] values, int[] order)
    {
        var copy = (long[])values.Clone();
        for (var i = 0; i < order.Length; i++) values[i] = copy[order[i]];
    }
}

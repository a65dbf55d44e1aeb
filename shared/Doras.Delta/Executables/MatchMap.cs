using Doras.Delta.Bsdiff;

namespace Doras.Delta.Executables;

/// <summary>
/// Where a byte of the old version went in the new one, as far as bsdiff's matches say: the new position of the
/// same byte in the match that covers it (of several, the one reaching furthest). Bytes no match covers went nowhere known.
/// </summary>
internal sealed class MatchMap
{
    private readonly long[] _oldStarts;
    private readonly long[] _shifts;
    private readonly long[] _ends;
    /// <summary>For each index, the match among those up to it that reaches furthest in the old version.</summary>
    private readonly int[] _furthest;

    public MatchMap(IReadOnlyList<BsdiffMatch> matches)
    {
        var sorted = matches.Where(m => m.Length > 0).OrderBy(m => m.OldStart).ThenBy(m => m.NewStart).ToArray();
        _oldStarts = [.. sorted.Select(m => m.OldStart)];
        _shifts = [.. sorted.Select(m => m.NewStart - m.OldStart)];
        _ends = [.. sorted.Select(m => m.OldStart + m.Length)];
        _furthest = new int[sorted.Length];
        for (var i = 0; i < sorted.Length; i++)
            _furthest[i] = i > 0 && _ends[_furthest[i - 1]] >= _ends[i] ? _furthest[i - 1] : i;
    }

    /// <summary>The new position of the old byte at <paramref name="oldPosition"/>.</summary>
    public bool TryMap(long oldPosition, out long newPosition)
    {
        newPosition = 0;
        var i = Array.BinarySearch(_oldStarts, oldPosition);
        if (i < 0) i = ~i - 1;
        else while (i + 1 < _oldStarts.Length && _oldStarts[i + 1] == oldPosition) i++;
        if (i < 0) return false;
        var match = _furthest[i];
        if (_ends[match] <= oldPosition) return false;
        newPosition = oldPosition + _shifts[match];
        return true;
    }
}

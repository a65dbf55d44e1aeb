namespace Doras.Delta.Bsdiff;

/// <summary>
/// Where <see cref="MatchScan"/> looks up the longest match of the new version's bytes at a position: the whole old
/// version's suffix array (<see cref="SuffixIndex"/>), or the exact covers first and, for the rest, a suffix array of
/// what they leave of the old version or the answers for the few new bytes they leave (<see cref="CoveredIndex"/>).
/// </summary>
internal abstract class OldIndex
{
    /// <summary>
    /// The longest match of <paramref name="target"/> (the new version from <paramref name="newPosition"/>) and its
    /// old position. <paramref name="cursor"/> belongs to one scan, which asks for increasing positions.
    /// </summary>
    public abstract int Longest(ReadOnlySpan<byte> target, int newPosition, ref int cursor, out int oldPosition);

    /// <summary>From this size of old version on, only what the covers leave is suffix-sorted (<see cref="For"/>).</summary>
    public const long RemainderFromBytes = 32 << 20;

    /// <summary>From this many bytes of the new version outside the covers, only what they leave of the old is suffix-sorted (<see cref="For"/>).</summary>
    public const long RemainderFromUncoveredBytes = 16 << 10;

    /// <summary>
    /// The index a scan of these versions should use. Where exact covers hold at least half of the new version,
    /// they answer for the bytes they hold (the scan skips them); otherwise they would save little and the classic
    /// index is used. The suffix array then spans only what the covers leave of the old version (benchmarks/RESULTS.md,
    /// 2026-12-07) from <see cref="RemainderFromBytes"/> of old version (the 240 MB firmware image: 3.3x less CPU and
    /// fewer bytes than the whole array, whose sort alone is 13 s) or from <see cref="RemainderFromUncoveredBytes"/>
    /// of new bytes left uncovered (11 JavaScript, tar and executable pairs with 45 KB to 3.8 MB uncovered: 8 deltas
    /// smaller by 101-6,775 bytes, 2 the same, plotly 4.0.0 -> 4.1.0 0.5 % larger; 30-50 % less CPU on the text pairs);
    /// below, the few new bytes are edits whose best matches lie inside covered old text (typescript patch releases with
    /// 0.7-1.5 KB uncovered: 685 bytes with the whole array, 828 without), so they are searched in the whole old version,
    /// which is read once for all of them instead of sorted (<see cref="UncoveredMatches"/>).
    /// </summary>
    public static OldIndex For(byte[] old, ReadOnlySpan<byte> @new, bool collectBetweenPhases, CancellationToken ct, DoneWith? doneWith = null)
    {
        var covers = ExactCovers.Find(old, @new, ct, doneWith);
        var uncovered = @new.Length - ExactCovers.CoveredBytes(covers);
        // The covers' anchor table (about half a byte per byte of the old version) is garbage now: collected before the
        // suffix array is allocated, it is not held beside it.
        if (collectBetweenPhases) BuildGarbage.CollectFor(old.Length);
        if (uncovered * 2 > @new.Length) return new SuffixIndex(old);
        IUncoveredLookup remainder = old.Length >= RemainderFromBytes || uncovered >= RemainderFromUncoveredBytes
            ? OldRemainder.Build(old, covers)
            : (IUncoveredLookup?)UncoveredMatches.TryFind(old, @new, covers, ct) ?? OldRemainder.Whole(old);
        return new CoveredIndex(covers.ToArray(), remainder);
    }
}

/// <summary>The classic lookup: a suffix array of the whole old version, with the matches under four bytes answered apart (<see cref="ShortMatches"/>).</summary>
internal sealed class SuffixIndex(byte[] old) : OldIndex
{
    private readonly SuffixSearch _search = new(old);
    private readonly ShortMatches? _short = old.Length >= ShortMatches.FromBytes ? new(old) : null;

    public override int Longest(ReadOnlySpan<byte> target, int newPosition, ref int cursor, out int oldPosition) =>
        _short is not null && _short.TryLongest(target, out var length, out oldPosition) ? length : _search.Longest(target, out oldPosition);
}

/// <summary>
/// Exact covers answer for the positions they hold (the rest of the cover, at its old position); elsewhere the
/// suffix array of the old bytes no cover took (<see cref="OldRemainder"/>). Matches into covered old bytes are
/// not found from uncovered new bytes, the price of sorting only the remainder; the scan's extensions still run over
/// the whole old version.
/// </summary>
internal sealed class CoveredIndex(ExactCover[] covers, IUncoveredLookup remainder) : OldIndex
{
    public override int Longest(ReadOnlySpan<byte> target, int newPosition, ref int cursor, out int oldPosition)
    {
        while (cursor < covers.Length && covers[cursor].NewEnd <= newPosition) cursor++;
        if (cursor < covers.Length && covers[cursor].NewStart <= newPosition)
        {
            var cover = covers[cursor];
            oldPosition = cover.OldStart + (newPosition - cover.NewStart);
            return Math.Min(cover.NewEnd - newPosition, target.Length);
        }
        return remainder.Longest(target, newPosition, out oldPosition);
    }
}

/// <summary>How <see cref="CoveredIndex"/> finds the longest match of a new position no cover holds.</summary>
internal interface IUncoveredLookup
{
    /// <summary>The longest match of <paramref name="target"/> (the new version from <paramref name="newPosition"/>, outside every cover) and its old position.</summary>
    int Longest(ReadOnlySpan<byte> target, int newPosition, out int oldPosition);
}

/// <summary>
/// The old version's bytes outside every cover, stretches of <see cref="MinStretch"/> bytes or more, concatenated and
/// suffix-sorted; a match found there is cut at its stretch's end and given its position in the old version.
/// </summary>
internal sealed class OldRemainder : IUncoveredLookup
{
    /// <summary>Shorter stretches (the few changed bytes between two covers) are no match for anything.</summary>
    public const int MinStretch = 16;

    private readonly int[] _starts;     // where each stretch begins in the concatenation
    private readonly int[] _oldStarts;  // and in the old version
    private readonly SuffixSearch? _search;

    private OldRemainder(byte[] bytes, int[] starts, int[] oldStarts)
    {
        _starts = starts;
        _oldStarts = oldStarts;
        _search = bytes.Length > 0 ? new SuffixSearch(bytes) : null;
        Length = bytes.Length;
    }

    public int Length { get; }

    /// <summary>The whole old version as one stretch (not copied): where the covers take little of it (<see cref="Build"/>), or leave too many stretches for <see cref="UncoveredMatches"/>.</summary>
    public static OldRemainder Whole(byte[] old) => new(old, [0], [0]);

    /// <summary>What the covers leave of <paramref name="old"/>; the whole of it when they take less than half.</summary>
    public static OldRemainder Build(byte[] old, IReadOnlyList<ExactCover> covers)
    {
        var taken = covers.Select(c => (c.OldStart, End: c.OldStart + c.Length)).OrderBy(c => c.OldStart).ToList();
        var stretches = new List<(int Start, int End)>();
        var next = 0;
        foreach (var (start, end) in taken)
        {
            if (start - next >= MinStretch) stretches.Add((next, start));
            next = Math.Max(next, end);
        }
        if (old.Length - next >= MinStretch) stretches.Add((next, old.Length));
        // Covers can hold most of the new version yet take little of the old (a small piece repeated): then a copy of
        // nearly all of it would only add memory.
        if (stretches.Sum(s => (long)(s.End - s.Start)) * 2 > old.Length) return Whole(old);
        var bytes = new byte[stretches.Sum(s => s.End - s.Start)];
        var starts = new int[stretches.Count];
        var oldStarts = new int[stretches.Count];
        var at = 0;
        for (var i = 0; i < stretches.Count; i++)
        {
            starts[i] = at;
            oldStarts[i] = stretches[i].Start;
            old[stretches[i].Start..stretches[i].End].CopyTo(bytes.AsSpan(at));
            at += stretches[i].End - stretches[i].Start;
        }
        return new OldRemainder(bytes, starts, oldStarts);
    }

    public int Longest(ReadOnlySpan<byte> target, int newPosition, out int oldPosition)
    {
        oldPosition = 0;
        if (_search is null) return 0;
        // A match found is cut at its stretch's end: the concatenation joins stretches that were never adjacent.
        var length = _search.Longest(target, out var position);
        var stretch = StretchOf(position);
        oldPosition = _oldStarts[stretch] + (position - _starts[stretch]);
        var stretchEnd = stretch + 1 < _starts.Length ? _starts[stretch + 1] : Length;
        return Math.Min(length, stretchEnd - position);
    }

    private int StretchOf(int position)
    {
        var stretch = Array.BinarySearch(_starts, position);
        return stretch < 0 ? ~stretch - 1 : stretch;
    }

}

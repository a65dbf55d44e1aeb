using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads bsdiff records and their runs (<see cref="BsdiffDelta"/>) from the control stream, with the rules a record
/// must keep: its match inside the old file, its runs inside its match, the output within its limit, the old
/// position inside the old file after each adjustment. Applying and listing the matches both read through it.
/// </summary>
internal sealed class RecordReader(RecordStream records, long oldSize, long maxOutputBytes)
{
    private const string What = "bsdiff delta";

    private long _oldPos;
    private long _adjust;

    public RecordStream Records => records;

    /// <summary>Bytes of output the records read so far make.</summary>
    public long Written { get; private set; }

    /// <summary>The next record's match, or null at the clean end of the records.</summary>
    public BsdiffMatch? Next()
    {
        if (records.ReadVarint(endAllowed: true, What) is not { } first) return null;
        var diffLength = (long)first;
        var extraLength = (long)records.ReadVarint(endAllowed: false, What)!.Value;
        var zigzag = records.ReadVarint(endAllowed: false, What)!.Value;
        _adjust = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
        if (diffLength < 0 || extraLength < 0 || diffLength > oldSize - _oldPos)
            throw new CorruptDeltaException($"bsdiff delta has a record ({diffLength}, {extraLength}) outside the old file of {oldSize} bytes at {_oldPos}");
        if (diffLength > maxOutputBytes - Written || extraLength > maxOutputBytes - Written - diffLength)
            throw new CorruptDeltaException($"bsdiff delta produces more than the limit of {maxOutputBytes} bytes");
        return new BsdiffMatch(Written, _oldPos, diffLength, extraLength);
    }

    /// <summary>The next run of <paramref name="match"/> once <paramref name="covered"/> of its bytes are: unchanged bytes, then differing ones.</summary>
    public (long Same, long Differing) NextRun(in BsdiffMatch match, long covered)
    {
        var same = (long)records.ReadVarint(endAllowed: false, What)!.Value;
        var differing = (long)records.ReadVarint(endAllowed: false, What)!.Value;
        // Each compared with what is left on its own: a sum of two hostile lengths could wrap past long.MaxValue.
        if (same < 0 || differing < 0 || same > match.Length - covered || differing > match.Length - covered - same || same + differing == 0)
            throw new CorruptDeltaException($"bsdiff delta has a malformed run ({same}, {differing}) in a match of {match.Length} bytes");
        return (same, differing);
    }

    /// <summary>Moves past <paramref name="match"/> (its runs read) to where the next record starts in the old file.</summary>
    public void Finish(in BsdiffMatch match)
    {
        Written += match.Length + match.ExtraLength;
        _oldPos += match.Length + _adjust;
        if (_oldPos < 0 || _oldPos > oldSize)
            throw new CorruptDeltaException($"bsdiff delta moves to {_oldPos}, outside the old file of {oldSize} bytes");
    }

    /// <summary>
    /// Every match of a control stream holding only records and runs (the diff and extra bytes apart), read as a
    /// stream: the caller decides how many it holds (<see cref="MappedMatches"/>).
    /// </summary>
    public static IEnumerable<BsdiffMatch> ReadMatches(Stream control, long oldSize, long maxOutputBytes, CancellationToken ct)
    {
        var reader = new RecordReader(new RecordStream(control), oldSize, maxOutputBytes);
        while (reader.Next() is { } match)
        {
            ct.ThrowIfCancellationRequested();
            for (long covered = 0; covered < match.Length;)
            {
                var (same, differing) = reader.NextRun(match, covered);
                covered += same + differing;
            }
            yield return match;
            reader.Finish(match);
        }
    }
}

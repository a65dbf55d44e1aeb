namespace Doras.Delta.Bsdiff;

/// <summary>
/// Answers, without a suffix search, the searches whose longest match is under three bytes: which three-byte strings
/// occur in the old version (a bitmap of 2 MiB), and where each two-byte string and each byte first occurs. In data
/// that shares little with the old version most searches end so (swc's compressed 10 MB payload: half of its
/// positions start with three bytes found nowhere in the old version), and each such search still walked its
/// two-byte bucket. The length is the suffix search's; the position is one of the places it occurs, not necessarily
/// the search's: the scan never starts a record on a match within <see cref="MatchScan.MinRecordMargin"/>, so it uses
/// no such position.
/// </summary>
internal sealed class ShortMatches
{
    /// <summary>Old versions from this size on: below, the table would cost more than the searches it saves.</summary>
    public const int FromBytes = 1 << 20;

    private readonly ulong[] _triples = new ulong[(1 << 24) / 64];
    private readonly int[] _firstPair = new int[1 << 16];
    private readonly int[] _firstByte = new int[256];

    public ShortMatches(ReadOnlySpan<byte> old)
    {
        Array.Fill(_firstPair, -1);
        Array.Fill(_firstByte, -1);
        // Backwards, so the first occurrence is the one left.
        for (var i = old.Length - 1; i >= 0; i--)
        {
            _firstByte[old[i]] = i;
            if (i + 1 >= old.Length) continue;
            var pair = old[i] << 8 | old[i + 1];
            _firstPair[pair] = i;
            if (i + 2 >= old.Length) continue;
            var triple = pair << 8 | old[i + 2];
            _triples[triple >> 6] |= 1UL << (triple & 63);
        }
    }

    /// <summary>
    /// Whether no string of the old version begins with the first three bytes of <paramref name="target"/> (of three
    /// bytes or more); then <paramref name="length"/> is the longest match (0 to 2) and <paramref name="position"/>
    /// a place it occurs.
    /// </summary>
    public bool TryLongest(ReadOnlySpan<byte> target, out int length, out int position)
    {
        (length, position) = (0, 0);
        if (target.Length < 3) return false;
        var pair = target[0] << 8 | target[1];
        var triple = pair << 8 | target[2];
        if ((_triples[triple >> 6] & (1UL << (triple & 63))) != 0) return false;
        if (_firstPair[pair] is var atPair and >= 0) (length, position) = (2, atPair);
        else if (_firstByte[target[0]] is var atByte and >= 0) (length, position) = (1, atByte);
        return true;
    }
}

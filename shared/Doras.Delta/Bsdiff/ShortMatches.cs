using System.Buffers.Binary;
using System.Numerics;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Answers, without a suffix search, the searches whose longest match is under four bytes: which three-byte strings
/// occur in the old version (a bitmap of 2 MiB), where each two-byte string and each byte first occurs, and (under
/// 32 MiB) a hashed bitmap of its four-byte strings, which says for sure when one occurs nowhere (a set bit may be
/// another string's).
/// In data that shares little with the old version most searches end so: swc's compressed 10 MB payload starts half
/// of its positions with three bytes found nowhere in the old version and nearly all the others with four, and
/// each such search still walked its two-byte bucket. The length is the suffix search's; the position is where the
/// match's first byte or two bytes first occur, not necessarily the search's: the scan never starts a record on a
/// match within <see cref="MatchScan.MinRecordMargin"/>, so it uses no such position.
/// </summary>
internal sealed class ShortMatches
{
    /// <summary>Old versions from this size on: below, the table would cost more than the searches it saves.</summary>
    public const int FromBytes = 1 << 20;

    /// <summary>
    /// The four-byte bitmap has 8-16 bits per old position (at most one in eight set), and at most 32 MiB, so it is
    /// made for old versions under 32 MiB: biome's 91 MB would set a third of its bits, and its three-byte searches
    /// (a sixth of them) saved no measurable time for 30 MB more.
    /// </summary>
    private const int MaxQuadBits = 28;

    private readonly ulong[] _triples = new ulong[(1 << 24) / 64];
    private readonly int[] _firstPair = new int[1 << 16];
    private readonly int[] _firstByte = new int[256];
    private readonly ulong[]? _quads;
    private readonly int _quadShift;

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
        var bits = Math.Max(BitOperations.Log2((uint)Math.Max(1, old.Length)) + 3, 16);
        if (bits > MaxQuadBits) return;
        _quads = new ulong[(1 << bits) / 64];
        _quadShift = 32 - bits;
        for (var i = 0; i + 4 <= old.Length; i++)
        {
            var slot = QuadSlot(BinaryPrimitives.ReadUInt32LittleEndian(old[i..]));
            _quads[slot >> 6] |= 1UL << (int)(slot & 63);
        }
    }

    private uint QuadSlot(uint quad) => quad * 0x9E3779B1u >> _quadShift;

    /// <summary>
    /// Whether the longest match of <paramref name="target"/> (of three bytes or more) in the old version is known
    /// to be under four bytes: no string of it begins with the target's first three bytes, or none with its first
    /// four; then <paramref name="length"/> is that match's length (0 to 3) and <paramref name="position"/> a place
    /// where its first bytes occur (see the class).
    /// </summary>
    public bool TryLongest(ReadOnlySpan<byte> target, out int length, out int position)
    {
        (length, position) = (0, 0);
        if (target.Length < 3) return false;
        var pair = target[0] << 8 | target[1];
        var triple = pair << 8 | target[2];
        if ((_triples[triple >> 6] & (1UL << (triple & 63))) != 0)
        {
            // The three bytes occur; the match is three bytes long when the four do not (a clear bit is certain).
            if (_quads is null || target.Length < 4) return false;
            var slot = QuadSlot(BinaryPrimitives.ReadUInt32LittleEndian(target));
            if ((_quads[slot >> 6] & (1UL << (int)(slot & 63))) != 0) return false;
            (length, position) = (3, _firstPair[pair]);
            return true;
        }
        if (_firstPair[pair] is var atPair and >= 0) (length, position) = (2, atPair);
        else if (_firstByte[target[0]] is var atByte and >= 0) (length, position) = (1, atByte);
        return true;
    }
}

using System.Buffers.Binary;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The token choices of klauspost/compress/flate at level 5 (its default level, which pgzip and so buildah,
/// podman and skopeo use), written here from its rules; it is not the zlib/Go matcher of <see cref="MatchPredictor"/>.
/// Rules (as of compress 1.15.10 onwards):
/// <list type="bullet">
/// <item>Input comes in chunks (at most 65535 bytes); each chunk is matched against itself and the history kept
/// from earlier chunks (the history buffer holds up to 327675 bytes; when a chunk does not fit, only its last
/// 32768 bytes are kept, which moves the history's start: backward extension never reaches that start).</item>
/// <item>Two tables of 2^15 entries: a short one keyed by a hash of 4 bytes (multiplier 2654435761, top 15 bits of
/// 32), a long one keyed by a hash of 7 bytes (multiplier 58295818150454627, top 15 bits of 64) keeping the two
/// latest positions per key. A candidate counts when it is under 32768 back and its first 4 bytes agree.</item>
/// <item>The scan skips ahead faster the longer it goes without a match (step 1 + gap/64). At each position the
/// long table's latest, then its previous entry, then the short table are tried; a short-table match may give
/// way to a longer long-table match one byte on.</item>
/// <item>A match under 30 bytes is retried 2 bytes in, against the long table's entry for the bytes at its end;
/// then every match is extended backwards over unmatched bytes. Lengths over 258 are split into 258-byte tokens
/// (255 when under 3 bytes would be left).</item>
/// <item>Inside a match, the tables get a sparse set of positions (every third one after the first few), then
/// the two positions before the next search.</item>
/// <item>The last 11 bytes of a chunk are never searched; bytes not matched are literals.</item>
/// </list>
/// Positions are absolute (in the inflated stream); the bytes are read from a caller's buffer.
/// </summary>
internal sealed class KlauspostLevel5Encoder
{
    private const int TableBits = 15, TableSize = 1 << TableBits, MaxOffset = 32768;
    private const int HistoryCapacity = 65535 * 5, InputMargin = 11, MinEncodedChunk = 13, MaxMatch = 258;
    private const long Empty = long.MinValue / 4; // no position: every distance test fails on it

    private readonly long[] _short = new long[TableSize];
    private readonly long[] _longLatest = new long[TableSize];
    private readonly long[] _longPrevious = new long[TableSize];
    private long _historyStart, _historyEnd;
    private byte[] _data = [];
    private long _dataBase;

    public KlauspostLevel5Encoder() => Reset(0);

    /// <summary>Forgets every position and starts an empty history at <paramref name="position"/> (the encoder's Reset).</summary>
    public void Reset(long position)
    {
        Array.Fill(_short, Empty);
        Array.Fill(_longLatest, Empty);
        Array.Fill(_longPrevious, Empty);
        _historyStart = _historyEnd = position;
    }

    /// <summary>
    /// Encodes the chunk [<paramref name="start"/>, <paramref name="end"/>), which must follow the history; the
    /// bytes are <c>data[position - dataBase]</c> and must cover 32768 bytes before the chunk (where they exist).
    /// Writes the tokens to <paramref name="tokens"/> and returns their count; a chunk under 13 bytes is not
    /// searched (its count is its length, as all literals).
    /// </summary>
    public int Encode(byte[] data, long dataBase, long start, long end, int[] tokens)
    {
        if (start != _historyEnd) throw new InvalidOperationException("a klauspost chunk must follow its history");
        (_data, _dataBase) = (data, dataBase);
        var length = end - start;
        if (_historyEnd - _historyStart + length > HistoryCapacity) _historyStart = _historyEnd - MaxOffset;
        _historyEnd = end;
        if (length < MinEncodedChunk)
        {
            for (var i = 0; i < length; i++) tokens[i] = data[start + i - dataBase];
            return (int)length;
        }
        var count = 0;
        long s = start, nextEmit = start, sLimit = end - InputMargin;
        var cv = Load64(s);
        while (true)
        {
            long nextS = s, t;
            int l = 0;
            while (true)
            {
                var hashS = HashShort(cv);
                var hashL = HashLong(cv);
                s = nextS;
                nextS = s + 1 + ((s - nextEmit) >> 6);
                if (nextS > sLimit) goto Remainder;
                var shortCandidate = _short[hashS];
                var (latest, previous) = (_longLatest[hashL], _longPrevious[hashL]);
                var next = Load64(nextS);
                _short[hashS] = s;
                InsertLong(hashL, s);
                hashS = HashShort(next);
                hashL = HashLong(next);

                t = latest;
                if (s - t < MaxOffset)
                {
                    if ((uint)cv == Load32(t))
                    {
                        _short[hashS] = nextS;
                        InsertLong(hashL, nextS);
                        if (s - previous < MaxOffset && (uint)cv == Load32(previous))
                        {
                            l = MatchLength(s + 4, t + 4, end, MaxMatch - 4) + 4;
                            var other = MatchLength(s + 4, previous + 4, end, MaxMatch - 4) + 4;
                            if (other > l) (t, l) = (previous, other);
                        }
                        break;
                    }
                    t = previous;
                    if (s - t < MaxOffset && (uint)cv == Load32(t))
                    {
                        _short[hashS] = nextS;
                        InsertLong(hashL, nextS);
                        break;
                    }
                }

                t = shortCandidate;
                if (s - t < MaxOffset && (uint)cv == Load32(t))
                {
                    l = MatchLength(s + 4, t + 4, end, MaxMatch - 4) + 4;
                    var (nextLatest, nextPrevious) = (_longLatest[hashL], _longPrevious[hashL]);
                    _short[hashS] = nextS;
                    InsertLong(hashL, nextS);
                    // A long-table match one byte on wins when it is longer.
                    if (nextS - nextLatest < MaxOffset)
                    {
                        if (Load32(nextLatest) == (uint)next)
                        {
                            var ml = MatchLength(nextS + 4, nextLatest + 4, end, MaxMatch - 4) + 4;
                            if (ml > l) { (t, s, l) = (nextLatest, nextS, ml); break; }
                        }
                        if (nextS - nextPrevious < MaxOffset && Load32(nextPrevious) == (uint)next)
                        {
                            var ml = MatchLength(nextS + 4, nextPrevious + 4, end, MaxMatch - 4) + 4;
                            if (ml > l) { (t, s, l) = (nextPrevious, nextS, ml); break; }
                        }
                    }
                    break;
                }
                cv = next;
            }

            // Extend: in full when not measured yet, or past 258 when it was cut there.
            if (l == 0) l = MatchLength(s + 4, t + 4, end, int.MaxValue) + 4;
            else if (l == MaxMatch) l += MatchLength(s + l, t + l, end, int.MaxValue);

            // A short match is retried 2 bytes in, against where the bytes at its end were last seen.
            if (l < 30 && s + l < sLimit)
            {
                const int skip = 2;
                var atEnd = _longLatest[HashLong(Load64(s + l))];
                var t2 = atEnd - l + skip;
                var s2 = s + skip;
                var offset = s2 - t2;
                if (t2 >= _historyStart && offset < MaxOffset && offset > 0)
                {
                    var l2 = MatchLength(s2, t2, end, int.MaxValue);
                    if (l2 > l) (t, l, s) = (t2, l2, s2);
                }
            }

            // Extend backwards over bytes not yet emitted (never to the history's first byte).
            while (t > _historyStart && s > nextEmit && Byte(t - 1) == Byte(s - 1)) { s--; t--; l++; }
            for (var i = nextEmit; i < s; i++) tokens[count++] = Byte(i);
            count = AddMatch(tokens, count, l, (int)(s - t));
            s += l;
            nextEmit = s;
            if (nextS >= s) s = nextS + 1;
            if (s >= sLimit) goto Remainder;

            IndexInsideMatch(s - l + 1, s);
            var x = Load64(s - 1);
            _short[HashShort(x)] = s - 1;
            InsertLong(HashLong(x), s - 1);
            cv = x >> 8;
        }

    Remainder:
        if (nextEmit < end && count > 0)
            for (var i = nextEmit; i < end; i++) tokens[count++] = Byte(i);
        return count;
    }

    /// <summary>The sparse indexing of a match's inside: positions i, i+1 (long), i+2 (short), then every third.</summary>
    private void IndexInsideMatch(long i, long s)
    {
        if (i >= s - 1) return;
        var cv = Load64(i);
        _short[HashShort(cv)] = i;
        InsertLong(HashLong(cv), i);
        InsertLong(HashLong(cv >> 8), i + 1);
        _short[HashShort(cv >> 16)] = i + 2;
        for (i += 4; i < s - 1; i += 3)
        {
            cv = Load64(i);
            InsertLong(HashLong(cv), i);
            _short[HashShort(cv >> 8)] = i + 1;
        }
    }

    /// <summary>Match tokens for a length: 258 at a time, 255 when fewer than 3 bytes would be left.</summary>
    private static int AddMatch(int[] tokens, int count, int length, int distance)
    {
        while (length > 0)
        {
            var piece = length <= MaxMatch ? length : length > MaxMatch + 3 ? MaxMatch : MaxMatch - 3;
            tokens[count++] = Token.Match(piece, distance);
            length -= piece;
        }
        return count;
    }

    private void InsertLong(int hash, long position)
    {
        _longPrevious[hash] = _longLatest[hash];
        _longLatest[hash] = position;
    }

    private static int HashShort(ulong u) => (int)(((uint)u * 2654435761u) >> (32 - TableBits));
    private static int HashLong(ulong u) => (int)(((u << 8) * 58295818150454627UL) >> (64 - TableBits));

    private byte Byte(long position) => _data[position - _dataBase];
    private ulong Load64(long position) => BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan((int)(position - _dataBase), 8));
    private uint Load32(long position) => BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan((int)(position - _dataBase), 4));

    /// <summary>How many bytes at <paramref name="a"/> equal those at <paramref name="b"/>, up to the chunk end and <paramref name="max"/>.</summary>
    private int MatchLength(long a, long b, long end, int max)
    {
        var n = (int)Math.Min(max, end - a);
        if (n <= 0) return 0;
        return _data.AsSpan((int)(a - _dataBase), n).CommonPrefixLength(_data.AsSpan((int)(b - _dataBase), n));
    }
}

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// How the encoder finds matches: zlib's deflate_fast (levels 1-3), deflate_slow (lazy, 4-9), Huffman only,
/// run-length only; Go's compress/flate lazy matcher (levels 4-9: a 4-byte hash, matches of 4 bytes or more);
/// klauspost's pgzip at its default level (<see cref="PgzipModel"/>: whole chunks encoded ahead, not a chain search).
/// </summary>
internal enum MatcherKind : byte { Fast, Lazy, HuffmanOnly, RunLength, GoLazy, Pgzip }

/// <summary>
/// A matcher configuration: zlib's per-level table (good, lazy, nice, chain) and its hash size
/// (memLevel + 7 bits). The recipe names one by its index in <see cref="All"/>, so the list only grows at its end.
/// </summary>
internal sealed record MatcherConfig(MatcherKind Kind, int Good, int Lazy, int Nice, int Chain, int HashBits = 15, int MinMatch = 3, bool FullTables = false)
{
    public static readonly MatcherConfig[] All =
    [
        new(MatcherKind.HuffmanOnly, 0, 0, 0, 0),
        new(MatcherKind.Fast, 4, 4, 8, 4),        // zlib level 1
        new(MatcherKind.Fast, 4, 5, 16, 8),       // 2
        new(MatcherKind.Fast, 4, 6, 32, 32),      // 3
        new(MatcherKind.Lazy, 4, 4, 16, 16),      // 4
        new(MatcherKind.Lazy, 8, 16, 32, 32),     // 5
        new(MatcherKind.Lazy, 8, 16, 128, 128),   // 6
        new(MatcherKind.Lazy, 8, 32, 128, 256),   // 7
        new(MatcherKind.Lazy, 32, 128, 258, 1024), // 8
        new(MatcherKind.Lazy, 32, 258, 258, 4096), // 9
        new(MatcherKind.RunLength, 0, 0, 0, 0),
        new(MatcherKind.Lazy, 8, 16, 128, 128, 16),   // level 6, memLevel 9
        new(MatcherKind.Lazy, 32, 258, 258, 4096, 16), // level 9, memLevel 9
        // Encoders whose shortest match is 4 bytes (Go's compress/flate and its descendants), with Go's level table.
        new(MatcherKind.Fast, 4, 0, 16, 8, MinMatch: 4),
        new(MatcherKind.Fast, 4, 0, 32, 32, MinMatch: 4),
        new(MatcherKind.Lazy, 4, 4, 16, 16, MinMatch: 4),
        new(MatcherKind.Lazy, 8, 16, 32, 32, MinMatch: 4),
        new(MatcherKind.Lazy, 8, 16, 128, 128, MinMatch: 4),
        new(MatcherKind.Lazy, 8, 32, 128, 256, MinMatch: 4),
        new(MatcherKind.Lazy, 32, 128, 258, 1024, MinMatch: 4),
        new(MatcherKind.Lazy, 32, 258, 258, 4096, MinMatch: 4),
        // Go's compress/flate, levels 4-9 (good, lazy, nice, chain from its level table; hash of 4 bytes in 17 bits).
        new(MatcherKind.GoLazy, 4, 4, 16, 16, 17, 4),
        new(MatcherKind.GoLazy, 8, 16, 32, 32, 17, 4),
        new(MatcherKind.GoLazy, 8, 16, 128, 128, 17, 4),
        new(MatcherKind.GoLazy, 8, 32, 128, 256, 17, 4),
        new(MatcherKind.GoLazy, 32, 128, 258, 1024, 17, 4),
        new(MatcherKind.GoLazy, 32, 258, 258, 4096, 17, 4),
        // klauspost/pgzip at its default level (klauspost/compress/flate level 5), as buildah, podman and skopeo push
        // layers; the numbers are unused but for the hash chains that rank distances (Go's 4-byte hash).
        // Its headers: compress 1.18.1 on sends only the codes used; 1.15.10-1.18.0 (Debian 12's buildah 1.28, for
        // one) send all 286 literal/length and 30 distance codes in blocks not ended by a flush.
        new(MatcherKind.Pgzip, 0, 0, 0, 0, 17, 4),
        new(MatcherKind.Pgzip, 0, 0, 0, 0, 17, 4, FullTables: true),
    ];
}

/// <summary>
/// Predicts the next token of a deflate stream the way zlib's deflate would choose it, from the inflated bytes
/// and the tokens actually chosen so far (the same on both sides: the analyzer knows them from the stream, the
/// rebuilder from what it rebuilt). It is zlib's longest_match over zlib's hash chains (the same hash, the
/// same 32 KiB chain ring, position 0 never matched, no match further than 32506 bytes back), with deflate_fast's
/// or deflate_slow's decisions (lazy evaluation, TOO_FAR for 3-byte matches, what is inserted inside matches).
/// For a zlib stream the prediction is the stream; for another encoder, the corrections say where it is not.
/// </summary>
internal sealed class MatchPredictor
{
    private const int MinLookahead = 262, MaxDist = 32768 - MinLookahead, TooFar = 4096, WindowMask = 32767;
    private readonly MatcherConfig _config;
    private readonly SlidingWindow _window;
    private readonly long[] _head;
    private readonly long[] _prev;
    private readonly int _hashMask, _hashShift;
    private readonly PgzipModel? _pgzip;
    private readonly int _stored; // added to a position in the chains: 0 for zlib (position 0 is its NIL), 1 for Go
    private long _insertNext;     // the next position to insert into the hash chains
    private long _end = long.MaxValue; // the end of the data, once known
    // A match already found at the current position by the previous step's lazy evaluation (deflate_slow's state).
    private long _pendingAt = -1;
    private int _pendingLength, _pendingDistance;

    /// <param name="tables">Cleared tables to use instead of new ones (<see cref="PredictorTables"/>), for a trial.</param>
    public MatchPredictor(MatcherConfig config, SlidingWindow window, PredictorTables? tables = null)
    {
        (_config, _window) = (config, window);
        (_prev, _head) = tables?.Cleared(config.HashBits) ?? (new long[32768], new long[1 << config.HashBits]);
        _hashMask = (1 << config.HashBits) - 1;
        _hashShift = (config.HashBits + 2) / 3;
        _stored = config.Kind is MatcherKind.GoLazy or MatcherKind.Pgzip ? 1 : 0;
        if (config.Kind == MatcherKind.Pgzip) _pgzip = new PgzipModel();
    }

    /// <summary>The position of the next token.</summary>
    public long Position { get; private set; }

    /// <summary>Sets where the data ends, once the caller knows (the window then holds everything up to it).</summary>
    public void SetEnd(long end) => _end = end;

    /// <summary>How far the window must reach past <see cref="Position"/> for a prediction (or reach the end).</summary>
    public const int Lookahead = 2 * DeflateSymbols.MaxLength + 8;

    /// <summary>
    /// How far the window must reach (or reach the end) for predictions up to <paramref name="p"/>: the lookahead,
    /// and for the pgzip model the end of <paramref name="p"/>'s chunk, which it encodes whole.
    /// </summary>
    public long DataEnd(long p) =>
        _pgzip is null ? p + Lookahead : Math.Max(p + Lookahead, PgzipModel.NominalChunkEnd(p));

    /// <summary>
    /// The header the encoder would write for a dynamic block of <paramref name="tokens"/> starting at
    /// <paramref name="start"/>: zlib's, or for the pgzip model klauspost's for the tokens of the block's first chunk
    /// (a klauspost block may go on over later chunks with the first one's table).
    /// </summary>
    public DynamicHeader PredictHeader(ReadOnlySpan<int> tokens, long start)
    {
        if (_pgzip is null) return ZlibTrees.Predict(tokens);
        var chunkEnd = Math.Min(PgzipModel.NominalChunkEnd(start), _end);
        var count = 0;
        for (var p = start; count < tokens.Length && p < chunkEnd; count++) p += Token.Span(tokens[count]);
        // Full tables only in blocks of matches not ended by a flush: a chunk of literals only is Huffman-only
        // coded, whose header always has 257 literal/length codes and one distance code.
        var flushed = chunkEnd == _end || chunkEnd % PgzipModel.BlockSize == 0;
        var literalsOnly = true;
        foreach (var token in tokens[..count]) literalsOnly &= !Token.IsMatch(token);
        return KlauspostTrees.Predict(tokens[..count], fullTables: _config.FullTables && !flushed && !literalsOnly);
    }

    /// <summary>The token zlib would write at <see cref="Position"/>, at most <paramref name="limit"/> bytes long.</summary>
    public int Predict(long limit)
    {
        var p = Position;
        int token;
        switch (_config.Kind)
        {
            case MatcherKind.HuffmanOnly: token = _window[p]; break;
            case MatcherKind.RunLength: token = RunLength(p); break;
            case MatcherKind.Fast:
            {
                var (length, distance) = Search(p, 2);
                token = length >= _config.MinMatch ? Token.Match(length, distance) : _window[p];
                break;
            }
            case MatcherKind.GoLazy: token = GoLazy(p); break;
            case MatcherKind.Pgzip: token = _pgzip!.Predict(p, _window, _end); break;
            default: token = Lazy(p); break;
        }
        if (Token.IsMatch(token) && Token.Length(token) > limit)
            token = limit >= 3 ? Token.Match((int)limit, Token.Distance(token)) : _window[p];
        return token;
    }

    private int Lazy(long p)
    {
        int length, distance;
        if (_pendingAt == p) (length, distance) = (_pendingLength, _pendingDistance);
        else (length, distance) = FilteredSearch(p, 2);
        if (length < 3) return _window[p];
        if (length >= _config.Lazy) return Token.Match(length, distance);
        var (next, nextDistance) = FilteredSearch(p + 1, length);
        if (next > length)
        {
            (_pendingAt, _pendingLength, _pendingDistance) = (p + 1, next, nextDistance);
            return _window[p];
        }
        return Token.Match(length, distance);
    }

    /// <summary>
    /// Go's lazy step: the match at p (searched from length 3 when the previous token was a match) is written
    /// unless the search at p + 1, made when it is shorter than lazy, finds a longer one.
    /// </summary>
    private int GoLazy(long p)
    {
        int length, distance;
        if (_pendingAt == p) (length, distance) = (_pendingLength, _pendingDistance);
        else (length, distance) = GoSearch(p, 3);
        if (length < 4) { RememberGo(p + 1, 3); return _window[p]; }
        if (length >= _config.Lazy || _end - (p + 1) <= length) return Token.Match(length, distance);
        var (next, nextDistance) = GoSearch(p + 1, length);
        if (next > length)
        {
            (_pendingAt, _pendingLength, _pendingDistance) = (p + 1, next, nextDistance);
            return _window[p];
        }
        return Token.Match(length, distance);
    }

    /// <summary>After a literal with no match, Go searches at p + 1 as after a match (from length 3, lazy permitting).</summary>
    private void RememberGo(long p, int previous)
    {
        var (length, distance) = GoSearch(p, previous);
        (_pendingAt, _pendingLength, _pendingDistance) = (p, length, distance);
    }

    /// <summary>
    /// Go's findMatch at <paramref name="p"/>: the chain of the 4-byte hash, nearest first, at most chain tries, at
    /// most 32768 back; a 4-byte match only within 4096; (3, 0) when none. <paramref name="previous"/> is the
    /// previous step's length, which decides whether Go searches at all (it must be under lazy and the lookahead).
    /// </summary>
    private (int Length, int Distance) GoSearch(long p, int previous)
    {
        if (p + 4 > _end || previous >= _config.Lazy || _end - p <= previous) return (3, 0);
        InsertUpTo(p);
        var minIndex = Math.Max(p - 32768, 0);
        var head = _prev[p & WindowMask] - 1;
        if (head < minIndex) return (3, 0);
        var lookahead = (int)Math.Min(DeflateSymbols.MaxLength, _end - p);
        var nice = Math.Min(_config.Nice, lookahead);
        int length = 3, distance = 0;
        var scan = _window.Span(p, lookahead);
        for (long i = head, tries = _config.Chain; tries > 0; tries--)
        {
            if (_window[i + length] == _window[p + length])
            {
                var n = _window.Span(i, lookahead).CommonPrefixLength(scan);
                if (n > length && (n > 4 || p - i <= 4096))
                {
                    (length, distance) = (n, (int)(p - i));
                    if (n >= nice) break;
                }
            }
            if (i == minIndex) break;
            i = _prev[i & WindowMask] - 1;
            if (i < minIndex || i < 0) break;
        }
        return (length, distance);
    }

    /// <summary>deflate_slow's search: longest_match, then a 3-byte match over TOO_FAR back counts as none.</summary>
    private (int Length, int Distance) FilteredSearch(long p, int previous)
    {
        var (length, distance) = Search(p, previous);
        if (distance != 0 && (length < _config.MinMatch || (length == 3 && distance > TooFar))) return (2, 0);
        return (length, distance);
    }

    /// <summary>
    /// zlib's longest_match at <paramref name="p"/> with best_len starting at <paramref name="previous"/>: the first
    /// candidate of greatest length along the chain; (previous, 0) when none is longer.
    /// </summary>
    private (int Length, int Distance) Search(long p, int previous)
    {
        if (p + 3 > _end) return (previous, 0);
        InsertUpTo(p);
        var candidate = _prev[p & WindowMask]; // the chain head before p was inserted
        if (candidate == 0 || p - candidate > MaxDist) return (previous, 0);
        var limit = p > MaxDist ? p - MaxDist : 0;
        var chain = _config.Chain;
        if (previous >= _config.Good) chain >>= 2;
        var lookahead = _end - p;
        var nice = (int)Math.Min(_config.Nice, lookahead);
        var maxLength = (int)Math.Min(DeflateSymbols.MaxLength, lookahead);
        if (previous >= maxLength) return (maxLength, 0); // nothing can be longer; zlib walks the chain for nothing
        int bestLength = previous, bestDistance = 0;
        var data = _window.Data;
        var at = _window.Offset + (int)(p - _window.Base);
        var scan = data.AsSpan(at, maxLength);
        unsafe
        {
            fixed (byte* d = data)
            fixed (long* prev = _prev)
            {
                do
                {
                    var from = at - (int)(p - candidate);
                    // zlib's quick rejection: a longer match must agree at the current best length's end and at the start.
                    if (d[from + bestLength] == d[at + bestLength] && d[from + bestLength - 1] == d[at + bestLength - 1] && d[from] == d[at])
                    {
                        var length = data.AsSpan(from, maxLength).CommonPrefixLength(scan);
                        if (length > bestLength)
                        {
                            (bestLength, bestDistance) = (length, (int)(p - candidate));
                            if (length >= nice) break;
                        }
                    }
                    candidate = prev[candidate & WindowMask];
                } while (candidate > limit && --chain != 0);
            }
        }
        return (Math.Min(bestLength, maxLength), bestDistance);
    }

    private int RunLength(long p)
    {
        if (p == 0 || p + 3 > _end) return _window[p];
        var previous = _window[p - 1];
        var max = (int)Math.Min(DeflateSymbols.MaxLength, _end - p);
        var length = 0;
        while (length < max && _window[p + length] == previous) length++;
        return length >= 3 ? Token.Match(length, 1) : _window[p];
    }

    public byte ByteAt(long position) => _window[position];

    /// <summary>Candidates a rank walk visits at most: beyond, a distance is written as it is.</summary>
    private const int RankVisits = 256;

    /// <summary>
    /// A distance written as its rank: the number of hash chain candidates at <paramref name="p"/> (nearest first,
    /// at most 32768 back) matching at least <paramref name="length"/> bytes before the one at
    /// <paramref name="distance"/>. Encoders mostly take the nearest of the longest matches they see, so ranks are
    /// small where raw distances are not. -1 when the chain does not reach it.
    /// </summary>
    public int RankOf(long p, int length, int distance) => Walk(p, length, distance, -1);

    /// <summary>The distance of the candidate of that <paramref name="rank"/> (see <see cref="RankOf"/>), or -1.</summary>
    public int DistanceOfRank(long p, int length, int rank) => Walk(p, length, -1, rank);

    private int Walk(long p, int length, int distance, int rank)
    {
        if (_config.Kind is MatcherKind.HuffmanOnly or MatcherKind.RunLength || p + 3 + _stored > _end) return -1;
        InsertUpTo(p);
        var candidate = _prev[p & WindowMask] - _stored;
        var found = 0;
        for (var visits = 0; candidate > 0 - _stored && candidate < p && p - candidate <= 32768 && visits < RankVisits; visits++)
        {
            var d = (int)(p - candidate);
            if (_window.Span(candidate, length).SequenceEqual(_window.Span(p, length)))
            {
                if (d == distance) return found;
                if (found == rank) return d;
                found++;
            }
            if (d == 32768) break; // its chain link was overwritten by p itself
            candidate = _prev[candidate & WindowMask] - _stored;
        }
        return -1;
    }

    /// <summary>Whether the <paramref name="length"/> bytes at <paramref name="p"/> equal those <paramref name="distance"/> back.</summary>
    public bool Matches(long p, int distance, int length) =>
        distance <= 32768 && _window.Span(p - distance, length).SequenceEqual(_window.Span(p, length)); // byte i equals byte i - distance, overlapping or not

    /// <summary>Moves past the token actually written at <see cref="Position"/> (predicted or not).</summary>
    public void Accept(int token)
    {
        var p = Position;
        var span = Token.Span(token);
        Position = p + span;
        if (_pendingAt != Position) _pendingAt = -1;
        if (!Token.IsMatch(token) || _config.Kind != MatcherKind.Fast) return;
        // deflate_fast inserts the strings inside a match only when it is short and 3 bytes follow it.
        if (span > _config.Lazy || _end - Position < 3)
        {
            InsertUpTo(p);
            _insertNext = Math.Max(_insertNext, Position);
        }
    }

    private void InsertUpTo(long p)
    {
        if (_config.Kind is MatcherKind.HuffmanOnly or MatcherKind.RunLength) return;
        var data = _window.Data;
        var go = _config.Kind is MatcherKind.GoLazy or MatcherKind.Pgzip;
        for (; _insertNext <= p; _insertNext++)
        {
            var q = _insertNext;
            if (q + (go ? 4 : 3) > _end) continue;
            var i = _window.Offset + (int)(q - _window.Base);
            var h = go
                ? (int)(((uint)(data[i] << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]) * 0x1e35a7bdu) >> (32 - 17))
                : ((data[i] << (2 * _hashShift)) ^ (data[i + 1] << _hashShift) ^ data[i + 2]) & _hashMask;
            _prev[q & WindowMask] = _head[h];
            _head[h] = q + _stored;
        }
    }
}

/// <summary>
/// The hash chains of one trial predictor at a time, cleared for each instead of allocated: the analyzer tries every
/// configuration on each stream that no configuration predicts exactly, and 29 new sets of tables (0.5-1.3 MB each, on
/// the large object heap) made a stream of a few bytes cost 10 ms and 45 MB of allocations, whatever its size.
/// </summary>
internal sealed class PredictorTables
{
    private readonly long[] _prev = new long[32768];
    private readonly Dictionary<int, long[]> _heads = [];

    public (long[] Prev, long[] Head) Cleared(int hashBits)
    {
        Array.Clear(_prev);
        if (_heads.TryGetValue(hashBits, out var head)) Array.Clear(head);
        else _heads[hashBits] = head = new long[1 << hashBits];
        return (_prev, head);
    }
}

namespace Doras.Delta.Bsdiff;

/// <summary>
/// The longest match in the whole old version of every position of the few new bytes the exact covers leave
/// (<see cref="OldIndex.For"/>: under <see cref="OldIndex.RemainderFromUncoveredBytes"/>), found without sorting the
/// old version. A suffix automaton of those bytes (each uncovered stretch with <see cref="Margin"/> bytes of what
/// follows it, reversed) reads the old version once, from its end, and each state keeps the longest match that
/// reached it; the answers are then read off for every uncovered position. A suffix sort of typescript's 9.1 MB was
/// most of its build for 0.7-1.5 KB of uncovered bytes (benchmarks/RESULTS.md, 2026-12-07).
/// <para>
/// The lengths are the suffix array's (<see cref="SuffixSearch.Longest"/>, at most <see cref="SuffixSearch.MaxProbe"/>)
/// but for one case: a match that reaches its stretch's margin is extended byte for byte at the one position found, so
/// where the whole piece occurs more than once in the old version, a longer match from another occurrence is missed
/// (a review measured 1,071 of 9,942 uncovered positions 2 bytes short on text changed every 200 bytes, and the same
/// compressed records). Of equally long matches another may be taken than the suffix array's search meets: where the
/// reading allows, the one earliest in the old version. On typescript 5.9.2 -> 5.9.3 the bsdiff-lzma delta came out 672
/// bytes instead of 677 (686 preferring the latest), in 0.35 s of CPU instead of 0.90.
/// </para>
/// <para>
/// Reading the old version costs a few cache misses a byte, more as the automaton grows: past <see cref="MaxStretches"/>
/// stretches (a 32 MiB old version read for 16,000 one-byte stretches took 3x its suffix sort) <see cref="TryFind"/>
/// declines and the old version is sorted.
/// </para>
/// </summary>
internal sealed class UncoveredMatches : IUncoveredLookup
{
    /// <summary>
    /// Bytes after an uncovered stretch that its matches may run into before they are extended at one position; a
    /// longer match found at another position is missed (the covers already hold what follows).
    /// </summary>
    public const int Margin = 64;

    /// <summary>
    /// The most stretches answered here: with the 16 KiB of uncovered bytes it is made for, at most 16 + 65 KiB of
    /// symbols, an automaton of about 11 MiB (about 130 bytes a symbol), read over a 32 MiB old version in about the
    /// time of its sort.
    /// </summary>
    public const int MaxStretches = 1024;

    private readonly int[] _starts;    // each uncovered stretch's first new position, ascending
    private readonly int[] _firsts;    // and where its answers begin in _lengths and _positions
    private readonly int[] _lengths;
    private readonly int[] _positions;

    private UncoveredMatches(int[] starts, int[] firsts, int[] lengths, int[] positions)
    {
        _starts = starts;
        _firsts = firsts;
        _lengths = lengths;
        _positions = positions;
    }

    /// <summary>
    /// The longest match of every position of <paramref name="new"/> outside <paramref name="covers"/> (in the new
    /// version's order, not overlapping); null past <see cref="MaxStretches"/> uncovered stretches.
    /// </summary>
    public static UncoveredMatches? TryFind(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, IReadOnlyList<ExactCover> covers, CancellationToken ct)
    {
        var stretches = Uncovered(covers, @new.Length);
        if (stretches.Count > MaxStretches) return null;
        const int margin = Margin;
        var symbols = 0;
        foreach (var (start, end) in stretches) symbols += Math.Min(end + margin, @new.Length) - start + 1;
        var automaton = new SuffixAutomaton(symbols);
        // Each stretch goes in reversed, with its margin, after a separator no old byte equals: a match never spans two.
        var prefixStates = new int[automaton.Capacity];
        var pieceStarts = new int[stretches.Count];
        var at = 0;
        for (var k = 0; k < stretches.Count; k++)
        {
            automaton.Append(SuffixAutomaton.Separator);
            at++;
            pieceStarts[k] = at;
            var pieceEnd = Math.Min(stretches[k].End + margin, @new.Length);
            for (var i = pieceEnd - 1; i >= stretches[k].Start; i--) prefixStates[at++] = automaton.Append(@new[i]);
        }
        ct.ThrowIfCancellationRequested();
        var (longest, oldStart) = automaton.Read(old, ct);

        var starts = new int[stretches.Count];
        var firsts = new int[stretches.Count];
        var lengths = new int[stretches.Sum(s => s.End - s.Start)];
        var positions = new int[lengths.Length];
        var answer = 0;
        for (var k = 0; k < stretches.Count; k++)
        {
            ct.ThrowIfCancellationRequested();
            var (start, end) = stretches[k];
            var pieceEnd = Math.Min(end + margin, @new.Length);
            (starts[k], firsts[k]) = (start, answer);
            for (var p = start; p < end; p++, answer++)
            {
                // The reversed piece up to new position p ends at this prefix of the automaton's text.
                var state = prefixStates[pieceStarts[k] + (pieceEnd - p) - 1];
                var (length, position) = (longest[state], oldStart[state]);
                if (length == pieceEnd - p && pieceEnd < @new.Length && length < SuffixSearch.MaxProbe)
                {
                    // Compared no further than the search would: an extension to the end of a large old version, at
                    // each of thousands of positions, was a crafted pair's 20 s.
                    var further = Math.Min(SuffixSearch.MaxProbe - length, Math.Min(old.Length - position, @new.Length - p) - length);
                    length += old.Slice(position + length, further).CommonPrefixLength(@new.Slice(p + length, further));
                }
                (lengths[answer], positions[answer]) = (Math.Min(length, SuffixSearch.MaxProbe), length > 0 ? position : 0);
            }
        }
        return new UncoveredMatches(starts, firsts, lengths, positions);
    }

    /// <summary>The longest match at <paramref name="newPosition"/>, which must lie outside every cover; its old position in <paramref name="oldPosition"/>.</summary>
    public int Longest(ReadOnlySpan<byte> target, int newPosition, out int oldPosition)
    {
        var k = Array.BinarySearch(_starts, newPosition);
        if (k < 0) k = ~k - 1;
        var answer = _firsts[k] + (newPosition - _starts[k]);
        oldPosition = _positions[answer];
        return Math.Min(_lengths[answer], target.Length);
    }

    private static List<(int Start, int End)> Uncovered(IReadOnlyList<ExactCover> covers, int newLength)
    {
        var stretches = new List<(int Start, int End)>();
        var next = 0;
        foreach (var cover in covers)
        {
            if (cover.NewStart > next) stretches.Add((next, cover.NewStart));
            next = Math.Max(next, cover.NewEnd);
        }
        if (newLength > next) stretches.Add((next, newLength));
        return stretches;
    }
}

/// <summary>
/// A suffix automaton (Blumer et al.) over bytes and one separator: built by appending symbols, then run over a text
/// for the longest substring of its own text that ends at each position there (matching statistics), kept per state.
/// </summary>
internal sealed class SuffixAutomaton
{
    public const int Separator = 256;
    private const int Symbols = 257;

    private readonly int[] _length;   // the longest string of each state
    private readonly int[] _link;     // its suffix link
    private readonly int[] _firstEdge;
    private readonly int[] _edgeNext, _edgeSymbol, _edgeTarget;
    private int _states = 1, _edges, _last;

    /// <param name="symbols">At most this many symbols are appended.</param>
    public SuffixAutomaton(int symbols)
    {
        Capacity = symbols;
        var states = 2 * symbols + 1;
        _length = new int[states];
        _link = new int[states];
        _firstEdge = new int[states];
        Array.Fill(_firstEdge, -1);
        _link[0] = -1;
        var edges = 3 * symbols + 1;
        _edgeNext = new int[edges];
        _edgeSymbol = new int[edges];
        _edgeTarget = new int[edges];
    }

    public int Capacity { get; }

    /// <summary>Appends a symbol; returns the state of the whole text so far.</summary>
    public int Append(int symbol)
    {
        var current = _states++;
        _length[current] = _length[_last] + 1;
        var p = _last;
        while (p != -1 && Edge(p, symbol) < 0)
        {
            AddEdge(p, symbol, current);
            p = _link[p];
        }
        if (p == -1) _link[current] = 0;
        else
        {
            var q = _edgeTarget[Edge(p, symbol)];
            if (_length[p] + 1 == _length[q]) _link[current] = q;
            else
            {
                var clone = _states++;
                _length[clone] = _length[p] + 1;
                _link[clone] = _link[q];
                for (var e = _firstEdge[q]; e >= 0; e = _edgeNext[e]) AddEdge(clone, _edgeSymbol[e], _edgeTarget[e]);
                for (; p != -1 && Edge(p, symbol) is var e && e >= 0 && _edgeTarget[e] == q; p = _link[p]) _edgeTarget[e] = clone;
                _link[q] = _link[current] = clone;
            }
        }
        return _last = current;
    }

    /// <summary>
    /// Reads <paramref name="text"/> from its end and returns, for each state, the longest of its strings that occurs in
    /// the text read forwards (the automaton's text is reversed), and where an occurrence starts (the earliest met at
    /// that state; a shorter string's earliest occurrence may have been met at another state and not kept). A string found
    /// also stands for its suffixes (the state's suffix links), and each state takes its ancestors' answers when
    /// longer: a state's answer is then the longest match of the whole prefix it ends.
    /// </summary>
    public (int[] Longest, int[] Start) Read(ReadOnlySpan<byte> text, CancellationToken ct)
    {
        var next = Transitions();
        var root = new int[256];
        for (var c = 0; c < 256; c++) root[c] = Edge(0, c) is var e && e >= 0 ? _edgeTarget[e] : 0;
        var longest = new int[_states];
        var start = new int[_states];
        int state = 0, length = 0;
        for (var j = text.Length - 1; j >= 0; j--)
        {
            int c = text[j];
            while (true)
            {
                if (state == 0)
                {
                    state = root[c];
                    length = state == 0 ? 0 : 1;
                    break;
                }
                if (next.Find(state, c) is var to && to >= 0)
                {
                    state = to;
                    length++;
                    break;
                }
                state = _link[state];
                length = _length[state];
            }
            // Read from the end: a later, equally long occurrence gives way (Better).
            if (length >= longest[state]) (longest[state], start[state]) = (length, j);
            if ((j & 0xFFFFF) == 0) ct.ThrowIfCancellationRequested();
        }
        // Longest states first: each gives its suffix link what of its match fits there.
        var order = ByLength();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var v = order[i];
            var u = _link[v];
            var fits = Math.Min(longest[v], _length[u]);
            if (Better(fits, start[v], longest[u], start[u])) (longest[u], start[u]) = (fits, start[v]);
        }
        // Shortest first: a prefix's answer is the longest found on its way to the root.
        for (var i = 1; i < order.Length; i++)
        {
            var v = order[i];
            var u = _link[v];
            if (Better(longest[u], start[u], longest[v], start[v])) (longest[v], start[v]) = (longest[u], start[u]);
        }
        return (longest, start);
    }

    /// <summary>Longer first; of two equally long matches (the same string) the one earlier in the text.</summary>
    private static bool Better(int length, int start, int thanLength, int thanStart) => length > thanLength || length == thanLength && length > 0 && start < thanStart;

    private int[] ByLength()
    {
        var counts = new int[_length[_last] + 2];
        for (var s = 0; s < _states; s++) counts[_length[s] + 1]++;
        for (var l = 1; l < counts.Length; l++) counts[l] += counts[l - 1];
        var order = new int[_states];
        for (var s = 0; s < _states; s++) order[counts[_length[s]]++] = s;
        return order;
    }

    private int Edge(int state, int symbol)
    {
        for (var e = _firstEdge[state]; e >= 0; e = _edgeNext[e])
            if (_edgeSymbol[e] == symbol) return e;
        return -1;
    }

    private void AddEdge(int state, int symbol, int target)
    {
        _edgeSymbol[_edges] = symbol;
        _edgeTarget[_edges] = target;
        _edgeNext[_edges] = _firstEdge[state];
        _firstEdge[state] = _edges++;
    }

    /// <summary>The edges in an open-addressed table, for reading a long text.</summary>
    private TransitionTable Transitions()
    {
        var table = new TransitionTable(_edges);
        for (var s = 1; s < _states; s++)
            for (var e = _firstEdge[s]; e >= 0; e = _edgeNext[e])
                table.Add(s, _edgeSymbol[e], _edgeTarget[e]);
        return table;
    }

    private sealed class TransitionTable
    {
        private readonly int[] _keys;
        private readonly int[] _targets;
        private readonly int _mask, _shift;

        public TransitionTable(int edges)
        {
            var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, edges * 2));
            _keys = new int[size];
            Array.Fill(_keys, -1);
            _targets = new int[size];
            _mask = size - 1;
            _shift = 32 - System.Numerics.BitOperations.Log2((uint)size);
        }

        public void Add(int state, int symbol, int target)
        {
            var key = state * Symbols + symbol;
            var i = Slot(key);
            while (_keys[i] >= 0) i = (i + 1) & _mask;
            (_keys[i], _targets[i]) = (key, target);
        }

        public int Find(int state, int symbol)
        {
            var key = state * Symbols + symbol;
            for (var i = Slot(key); ; i = (i + 1) & _mask)
            {
                var k = _keys[i];
                if (k == key) return _targets[i];
                if (k < 0) return -1;
            }
        }

        private int Slot(int key) => (int)((uint)key * 0x9E3779B1u >> _shift);
    }
}

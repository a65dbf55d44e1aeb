using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The dynamic block header klauspost/compress/flate writes for a chunk's tokens (its huffman_bit_writer's new
/// table), built by its rules, which differ from zlib's (<see cref="ZlibTrees"/>):
/// <list type="bullet">
/// <item>Frequencies: the chunk's literals, length codes and distance codes, end-of-block counted once. Trailing
/// unused literal/length and distance codes are not sent; a block without matches sends one distance code
/// (counted as used once).</item>
/// <item>Code lengths: symbols sorted by (frequency, symbol) ascending; lengths by the package-merge style
/// level walk limited to 15 bits (7 for the code-length code); the most frequent symbols take the shortest
/// lengths. With at most two symbols used, each gets length 1.</item>
/// <item>Run-length coding over the literal and distance lengths as one sequence: a run of a non-zero length
/// sends it once, then repeats of 3-6 (code 16), then what is left one by one; a run of zeros uses code 18 for
/// 11-138 while it can, then code 17 for 3-10, then single zeros.</item>
/// <item>The code-length code's lengths are sent in RFC order, trimmed of trailing unused ones (at least 4).</item>
/// </list>
/// When a block reuses the previous block's table (klauspost continues a block over several chunks), the header is
/// the first chunk's, so the caller passes only the tokens of the block's first chunk.
/// </summary>
internal static class KlauspostTrees
{
    private const int LiteralCodes = 286, DistanceCodes = 30, CodeLengthCodes = 19;

    /// <summary>
    /// The header for <paramref name="tokens"/>; with <paramref name="fullTables"/> (older versions, a block not
    /// ended by a flush) all 286 and 30 codes are sent and an unused distance code is not made up.
    /// </summary>
    public static DynamicHeader Predict(ReadOnlySpan<int> tokens, bool fullTables)
    {
        var literalFreq = new int[LiteralCodes];
        var distanceFreq = new int[DistanceCodes];
        foreach (var token in tokens)
        {
            if (!Token.IsMatch(token)) { literalFreq[token]++; continue; }
            literalFreq[257 + LengthCode(Token.Length(token))]++;
            distanceFreq[DistanceCode(Token.Distance(token))]++;
        }
        literalFreq[EndOfBlock] = 1;
        var literalCount = LiteralCodes;
        while (literalFreq[literalCount - 1] == 0) literalCount--;
        var distanceCount = DistanceCodes;
        while (distanceCount > 0 && distanceFreq[distanceCount - 1] == 0) distanceCount--;
        if (distanceCount == 0) (distanceFreq[0], distanceCount) = (1, 1);
        if (fullTables) (literalCount, distanceCount) = (LiteralCodes, DistanceCodes);

        var literalLengths = CodeLengths(literalFreq, 15);
        var distanceLengths = CodeLengths(distanceFreq, 15);
        var sequence = new byte[literalCount + distanceCount];
        literalLengths.AsSpan(0, literalCount).CopyTo(sequence);
        distanceLengths.AsSpan(0, distanceCount).CopyTo(sequence.AsSpan(literalCount));
        var codeLengthFreq = new int[CodeLengthCodes];
        var runs = RunLengths(sequence, codeLengthFreq);
        var codeLengthLengths = CodeLengths(codeLengthFreq, 7);
        var count = CodeLengthCodes;
        while (count > 4 && codeLengthFreq[CodeLengthOrder[count - 1]] == 0) count--;
        var ranks = new byte[CodeLengthCodes];
        for (var rank = 0; rank < count; rank++) ranks[rank] = codeLengthLengths[CodeLengthOrder[rank]];
        return new DynamicHeader
        {
            LiteralCount = literalCount, DistanceCount = distanceCount, CodeLengthCount = count, CodeLengthLengths = ranks, Runs = runs,
        };
    }

    private static List<(byte, byte)> RunLengths(byte[] lengths, int[] freq)
    {
        var runs = new List<(byte, byte)>();
        void Add(int symbol, int extra) { runs.Add(((byte)symbol, (byte)extra)); freq[symbol]++; }
        for (var i = 0; i < lengths.Length;)
        {
            var value = lengths[i];
            var run = 1;
            while (i + run < lengths.Length && lengths[i + run] == value) run++;
            i += run;
            if (value != 0)
            {
                Add(value, 0);
                run--;
                for (; run >= 3; run -= Math.Min(6, run)) Add(16, Math.Min(6, run) - 3);
            }
            else
            {
                for (; run >= 11; run -= Math.Min(138, run)) Add(18, Math.Min(138, run) - 11);
                if (run >= 3) { Add(17, run - 3); run = 0; }
            }
            for (; run > 0; run--) Add(value, 0);
        }
        return runs;
    }

    /// <summary>Code lengths by symbol for the frequencies, at most <paramref name="maxBits"/> long.</summary>
    private static byte[] CodeLengths(int[] freq, int maxBits)
    {
        var lengths = new byte[freq.Length];
        var list = new List<(int Freq, int Symbol)>();
        for (var i = 0; i < freq.Length; i++) if (freq[i] != 0) list.Add((freq[i], i));
        if (list.Count <= 2)
        {
            foreach (var (_, symbol) in list) lengths[symbol] = 1;
            return lengths;
        }
        list.Sort(); // by frequency, then symbol
        var bitCount = BitCounts(list, maxBits);
        var remaining = list.Count;
        for (var bits = 1; bits < bitCount.Length; bits++)
        {
            // The most frequent symbols left take the shortest length.
            for (var k = remaining - bitCount[bits]; k < remaining; k++) lengths[list[k].Symbol] = (byte)bits;
            remaining -= bitCount[bits];
        }
        return lengths;
    }

    /// <summary>
    /// How many symbols get each length (index = length): the level walk that pairs the cheapest of the next leaf
    /// and the next pair at each level, each level needing twice the pairs of the one above it.
    /// </summary>
    private static int[] BitCounts(List<(int Freq, int Symbol)> list, int maxBits)
    {
        const int none = int.MaxValue, limit = 17;
        var n = list.Count;
        int FreqAt(int i) => i < n ? list[i].Freq : none;
        if (maxBits > n - 1) maxBits = n - 1;
        var lastFreq = new int[limit];
        var nextCharFreq = new int[limit];
        var nextPairFreq = new int[limit];
        var needed = new int[limit];
        var leafCounts = new int[limit, limit];
        for (var level = 1; level <= maxBits; level++)
        {
            lastFreq[level] = list[1].Freq;
            nextCharFreq[level] = FreqAt(2);
            nextPairFreq[level] = level == 1 ? none : list[0].Freq + list[1].Freq;
            leafCounts[level, level] = 2;
        }
        needed[maxBits] = 2 * n - 4;
        var at = maxBits;
        while (at < 16)
        {
            if (nextPairFreq[at] == none && nextCharFreq[at] == none)
            {
                needed[at] = 0;
                nextPairFreq[at + 1] = none;
                at++;
                continue;
            }
            var previous = lastFreq[at];
            if (nextCharFreq[at] < nextPairFreq[at])
            {
                var leaves = leafCounts[at, at] + 1;
                lastFreq[at] = nextCharFreq[at];
                leafCounts[at, at] = leaves;
                nextCharFreq[at] = FreqAt(leaves);
            }
            else
            {
                lastFreq[at] = nextPairFreq[at];
                var save = leafCounts[at, at];
                for (var j = 0; j < limit; j++) leafCounts[at, j] = leafCounts[at - 1, j];
                leafCounts[at, at] = save;
                needed[at - 1] = 2;
            }
            if (--needed[at] == 0)
            {
                if (at == maxBits) break;
                nextPairFreq[at + 1] = previous + lastFreq[at];
                at++;
            }
            else
            {
                while (needed[at - 1] > 0) at--;
            }
        }
        if (leafCounts[maxBits, maxBits] != n) throw new InvalidOperationException("the Huffman level walk lost symbols");
        var bitCount = new int[maxBits + 1];
        for (int level = maxBits, bits = 1; level > 0; level--, bits++)
            bitCount[bits] = leafCounts[maxBits, level] - leafCounts[maxBits, level - 1];
        return bitCount;
    }
}

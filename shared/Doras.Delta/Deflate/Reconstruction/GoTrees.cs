using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The dynamic block header Go's compress/flate writes for a block's tokens, computed as it does (written here
/// from its documented behaviour): code lengths by its length-limited construction over the symbols sorted by
/// frequency then value (two or fewer symbols all get length 1), literal and distance lengths run-length coded
/// together as one sequence, the code-length code limited to 7 bits, trailing unused code-length codes trimmed.
/// A header it does not predict is stored as written, so a mistake here costs bytes, never correctness.
/// </summary>
internal static class GoTrees
{
    public static DynamicHeader Predict(ReadOnlySpan<int> tokens)
    {
        var literalFreq = new int[286];
        var distanceFreq = new int[30];
        foreach (var token in tokens)
        {
            if (!Token.IsMatch(token)) { literalFreq[token]++; continue; }
            literalFreq[257 + ((token & Token.Long258) != 0 ? 27 : LengthCode(Token.Length(token)))]++;
            distanceFreq[DistanceCode(Token.Distance(token))]++;
        }
        literalFreq[EndOfBlock]++;
        var literalCount = literalFreq.Length;
        while (literalFreq[literalCount - 1] == 0) literalCount--;
        var distanceCount = distanceFreq.Length;
        while (distanceCount > 0 && distanceFreq[distanceCount - 1] == 0) distanceCount--;
        if (distanceCount == 0) (distanceFreq[0], distanceCount) = (1, 1);
        var literalLengths = Lengths(literalFreq, 15);
        var distanceLengths = Lengths(distanceFreq, 15);

        // One run-length coded sequence over both sets of lengths.
        var sizes = new List<int>(literalCount + distanceCount + 1);
        for (var i = 0; i < literalCount; i++) sizes.Add(literalLengths[i]);
        for (var i = 0; i < distanceCount; i++) sizes.Add(distanceLengths[i]);
        sizes.Add(-1);
        var runs = new List<(byte, byte)>();
        var codeLengthFreq = new int[19];
        void Emit(int symbol, int extra)
        {
            runs.Add(((byte)symbol, (byte)extra));
            codeLengthFreq[symbol]++;
        }
        int size = sizes[0], count = 1;
        for (var i = 1; size != -1; i++)
        {
            var next = sizes[i];
            if (next == size) { count++; continue; }
            if (size != 0)
            {
                Emit(size, 0);
                count--;
                while (count >= 3)
                {
                    var n = Math.Min(6, count);
                    Emit(16, n - 3);
                    count -= n;
                }
            }
            else
            {
                while (count >= 11)
                {
                    var n = Math.Min(138, count);
                    Emit(18, n - 11);
                    count -= n;
                }
                if (count >= 3)
                {
                    Emit(17, count - 3);
                    count = 0;
                }
            }
            for (; count > 0; count--) Emit(size, 0);
            (size, count) = (next, 1);
        }
        var codeLengthLengths = Lengths(codeLengthFreq, 7);
        var codeLengthCount = 19;
        while (codeLengthCount > 4 && codeLengthFreq[CodeLengthOrder[codeLengthCount - 1]] == 0) codeLengthCount--;
        var ranks = new byte[19];
        for (var rank = 0; rank < codeLengthCount; rank++) ranks[rank] = codeLengthLengths[CodeLengthOrder[rank]];
        return new DynamicHeader { LiteralCount = literalCount, DistanceCount = distanceCount, CodeLengthCount = codeLengthCount, CodeLengthLengths = ranks, Runs = runs };
    }

    /// <summary>
    /// Length-limited code lengths: symbols sorted by (frequency, value); per level of the tree the number of
    /// leaves, found by the boundary package-merge walk; the most frequent symbols get the shortest lengths.
    /// </summary>
    private static byte[] Lengths(int[] frequencies, int maxBits)
    {
        var lengths = new byte[frequencies.Length];
        var list = new List<(int Symbol, int Freq)>();
        for (var i = 0; i < frequencies.Length; i++)
            if (frequencies[i] != 0) list.Add((i, frequencies[i]));
        if (list.Count <= 2)
        {
            foreach (var (symbol, _) in list) lengths[symbol] = 1;
            return lengths;
        }
        list.Sort((a, b) => a.Freq != b.Freq ? a.Freq.CompareTo(b.Freq) : a.Symbol.CompareTo(b.Symbol));
        var bitCount = BitCounts(list, maxBits);
        var end = list.Count;
        for (var bits = 1; bits < bitCount.Length; bits++)
        {
            for (var i = end - bitCount[bits]; i < end; i++) lengths[list[i].Symbol] = (byte)bits;
            end -= bitCount[bits];
        }
        return lengths;
    }

    private static int[] BitCounts(List<(int Symbol, int Freq)> list, int maxBits)
    {
        const int Max = int.MaxValue;
        var n = list.Count;
        int Freq(int i) => i < n ? list[i].Freq : Max;
        if (maxBits > n - 1) maxBits = n - 1;
        var lastFreq = new int[maxBits + 2];
        var nextCharFreq = new int[maxBits + 2];
        var nextPairFreq = new int[maxBits + 2];
        var needed = new int[maxBits + 2];
        var leafCounts = new int[maxBits + 2, maxBits + 2];
        for (var level = 1; level <= maxBits; level++)
        {
            lastFreq[level] = Freq(1);
            nextCharFreq[level] = Freq(2);
            nextPairFreq[level] = level == 1 ? Max : Freq(0) + Freq(1);
            leafCounts[level, level] = 2;
        }
        needed[maxBits] = 2 * n - 4;
        var current = maxBits;
        while (true)
        {
            if (nextPairFreq[current] == Max && nextCharFreq[current] == Max)
            {
                needed[current] = 0;
                nextPairFreq[current + 1] = Max;
                current++;
                continue;
            }
            var previousFreq = lastFreq[current];
            if (nextCharFreq[current] < nextPairFreq[current])
            {
                var count = leafCounts[current, current] + 1;
                lastFreq[current] = nextCharFreq[current];
                leafCounts[current, current] = count;
                nextCharFreq[current] = Freq(count);
            }
            else
            {
                lastFreq[current] = nextPairFreq[current];
                for (var j = 0; j < current; j++) leafCounts[current, j] = leafCounts[current - 1, j];
                needed[current - 1] = 2;
            }
            if (--needed[current] == 0)
            {
                if (current == maxBits) break;
                nextPairFreq[current + 1] = previousFreq + lastFreq[current];
                current++;
            }
            else
            {
                while (needed[current - 1] > 0) current--;
            }
        }
        if (leafCounts[maxBits, maxBits] != n) throw new InvalidDataException("the length-limited code lost leaves");
        var bitCount = new int[maxBits + 1];
        for (int level = maxBits, bits = 1; level > 0; level--, bits++)
            bitCount[bits] = leafCounts[maxBits, level] - leafCounts[maxBits, level - 1];
        return bitCount;
    }
}

using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The dynamic block header zlib writes for given symbol frequencies, computed as zlib's trees.c does
/// (build_tree with its heap and depth tie-break, gen_bitlen's overflow repair, scan_tree/send_tree's run-length
/// coding, build_bl_tree's trimming in bl_order). zlib, GNU gzip and pigz headers are predicted exactly, so only
/// a flag is stored for them; any other header is stored as written.
/// </summary>
internal static class ZlibTrees
{
    private const int LiteralCodes = 286, DistanceCodes = 30, CodeLengthCodes = 19;

    /// <summary>The header for a block of <paramref name="tokens"/> (the end-of-block symbol is counted here).</summary>
    public static DynamicHeader Predict(ReadOnlySpan<int> tokens)
    {
        var literalFreq = new int[LiteralCodes];
        var distanceFreq = new int[DistanceCodes];
        foreach (var token in tokens)
        {
            if (!Token.IsMatch(token)) { literalFreq[token]++; continue; }
            var code = (token & Token.Long258) != 0 ? 27 : LengthCode(Token.Length(token));
            literalFreq[257 + code]++;
            distanceFreq[DistanceCode(Token.Distance(token))]++;
        }
        literalFreq[EndOfBlock] = 1;
        var (literalLengths, literalMax) = BuildTree(literalFreq, 15);
        var (distanceLengths, distanceMax) = BuildTree(distanceFreq, 15);

        // build_bl_tree: the code-length code from the run-length symbols of both trees, each coded on its own.
        var codeLengthFreq = new int[CodeLengthCodes];
        var runs = new List<(byte, byte)>();
        ScanTree(literalLengths, literalMax, codeLengthFreq, runs);
        ScanTree(distanceLengths, distanceMax, codeLengthFreq, runs);
        var (codeLengthLengths, _) = BuildTree(codeLengthFreq, 7);
        var maxIndex = CodeLengthCodes - 1;
        for (; maxIndex >= 3; maxIndex--)
            if (codeLengthLengths[CodeLengthOrder[maxIndex]] != 0) break;
        var ranks = new byte[19];
        for (var rank = 0; rank <= maxIndex; rank++) ranks[rank] = codeLengthLengths[CodeLengthOrder[rank]];
        return new DynamicHeader
        {
            LiteralCount = literalMax + 1, DistanceCount = distanceMax + 1, CodeLengthCount = maxIndex + 1,
            CodeLengthLengths = ranks, Runs = runs,
        };
    }

    /// <summary>zlib's build_tree and gen_bitlen: code lengths limited to <paramref name="maxLength"/>, and max_code.</summary>
    private static (byte[] Lengths, int MaxCode) BuildTree(int[] frequencies, int maxLength)
    {
        var elems = frequencies.Length;
        var nodes = 2 * elems + 1;
        var freq = new int[nodes];
        var dad = new int[nodes];
        var len = new int[nodes];
        var depth = new byte[nodes];
        var heap = new int[2 * LiteralCodes + 1];
        Array.Copy(frequencies, freq, elems);
        int heapLen = 0, heapMax = heap.Length, maxCode = -1;
        for (var n = 0; n < elems; n++)
            if (freq[n] != 0) heap[++heapLen] = maxCode = n;
        // At least two codes, so that at least one bit is sent even for one symbol.
        while (heapLen < 2)
        {
            var node = heap[++heapLen] = maxCode < 2 ? ++maxCode : 0;
            freq[node] = 1;
        }
        bool Smaller(int a, int b) => freq[a] < freq[b] || (freq[a] == freq[b] && depth[a] <= depth[b]);
        void DownHeap(int k)
        {
            var v = heap[k];
            for (var j = k << 1; j <= heapLen; j <<= 1)
            {
                if (j < heapLen && Smaller(heap[j + 1], heap[j])) j++;
                if (Smaller(v, heap[j])) break;
                heap[k] = heap[j];
                k = j;
            }
            heap[k] = v;
        }
        for (var n = heapLen / 2; n >= 1; n--) DownHeap(n);
        var next = elems;
        do
        {
            var n = heap[1];
            heap[1] = heap[heapLen--];
            DownHeap(1);
            var m = heap[1];
            heap[--heapMax] = n;
            heap[--heapMax] = m;
            freq[next] = freq[n] + freq[m];
            depth[next] = (byte)(Math.Max(depth[n], depth[m]) + 1);
            dad[n] = dad[m] = next;
            heap[1] = next++;
            DownHeap(1);
        } while (heapLen >= 2);
        heap[--heapMax] = heap[1];

        // gen_bitlen
        var blCount = new int[HuffmanCode.MaxBits + 1];
        len[heap[heapMax]] = 0;
        var overflow = 0;
        int h;
        for (h = heapMax + 1; h < heap.Length; h++)
        {
            var n = heap[h];
            var bits = len[dad[n]] + 1;
            if (bits > maxLength) { bits = maxLength; overflow++; }
            len[n] = bits;
            if (n > maxCode) continue;
            blCount[bits]++;
        }
        if (overflow > 0)
        {
            do
            {
                var bits = maxLength - 1;
                while (blCount[bits] == 0) bits--;
                blCount[bits]--;
                blCount[bits + 1] += 2;
                blCount[maxLength]--;
                overflow -= 2;
            } while (overflow > 0);
            h = heap.Length;
            for (var bits = maxLength; bits != 0; bits--)
            {
                var count = blCount[bits];
                while (count != 0)
                {
                    var m = heap[--h];
                    if (m > maxCode) continue;
                    len[m] = bits;
                    count--;
                }
            }
        }
        var lengths = new byte[elems];
        for (var n = 0; n <= maxCode; n++) lengths[n] = (byte)len[n];
        for (var n = 0; n < elems; n++) if (frequencies[n] == 0 && n > maxCode) lengths[n] = 0;
        return (lengths, maxCode);
    }

    /// <summary>zlib's scan_tree and send_tree in one: counts the code-length symbols and records them with their extra bits.</summary>
    private static void ScanTree(byte[] lengths, int maxCode, int[] codeLengthFreq, List<(byte, byte)> runs)
    {
        int Length(int n) => n <= maxCode ? lengths[n] : 0xFFFF; // the guard after max_code
        int prevLen = -1, nextLen = Length(0), count = 0, maxCount = 7, minCount = 4;
        if (nextLen == 0) (maxCount, minCount) = (138, 3);
        for (var n = 0; n <= maxCode; n++)
        {
            var curLen = nextLen;
            nextLen = Length(n + 1);
            if (++count < maxCount && curLen == nextLen) continue;
            if (count < minCount)
            {
                codeLengthFreq[curLen] += count;
                for (var i = 0; i < count; i++) runs.Add(((byte)curLen, 0));
            }
            else if (curLen != 0)
            {
                if (curLen != prevLen)
                {
                    codeLengthFreq[curLen]++;
                    runs.Add(((byte)curLen, 0));
                    count--;
                }
                codeLengthFreq[16]++;
                runs.Add((16, (byte)(count - 3)));
            }
            else if (count <= 10) { codeLengthFreq[17]++; runs.Add((17, (byte)(count - 3))); }
            else { codeLengthFreq[18]++; runs.Add((18, (byte)(count - 11))); }
            count = 0;
            prevLen = curLen;
            if (nextLen == 0) (maxCount, minCount) = (138, 3);
            else if (curLen == nextLen) (maxCount, minCount) = (6, 3);
            else (maxCount, minCount) = (7, 4);
        }
    }
}

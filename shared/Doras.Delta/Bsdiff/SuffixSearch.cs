using System.Runtime.Intrinsics.X86;

namespace Doras.Delta.Bsdiff;

/// <summary>A suffix array of some bytes with its two-byte buckets: the longest match of a target among their suffixes.</summary>
internal sealed class SuffixSearch
{
    private readonly byte[] _data;
    private readonly int[] _suffixes;
    private readonly int[]? _buckets;

    /// <summary>
    /// Below this much data the buckets are found by two binary searches instead of a table of 512 KiB, which cost more
    /// than the search itself on tardiff's many small regions. The same bucket either way, so the same match.
    /// </summary>
    private const int BucketsFromBytes = 64 << 10;

    public SuffixSearch(byte[] data)
    {
        _data = data;
        _suffixes = SuffixArray.Build(data);
        _buckets = data.Length >= BucketsFromBytes ? PrefixBuckets(_suffixes, data) : null;
    }

    /// <summary>
    /// Comparisons stop after this many bytes: on long runs of equal bytes (and through the joins of
    /// <see cref="OldRemainder"/>) a whole-suffix comparison would cost the run's length at every step of every search.
    /// A longer match is found again from where this one stops, at the same alignment (no new record).
    /// </summary>
    public const int MaxProbe = 4096;

    public int Longest(ReadOnlySpan<byte> target, out int position) =>
        Search(_suffixes, _buckets, _data, target[..Math.Min(target.Length, MaxProbe)], out position);

    /// <summary>
    /// Where the suffixes starting with each two bytes are in the suffix array: entry 2k is bucket k's first index,
    /// entry 2k + 1 its count. A search starts in its target's bucket, a few steps instead of 24 on a 16 MB file,
    /// each a likely cache miss.
    /// </summary>
    internal static int[] PrefixBuckets(int[] I, ReadOnlySpan<byte> old)
    {
        var buckets = new int[2 * 65536];
        for (var i = 0; i + 1 < old.Length; i++) buckets[2 * (old[i] << 8 | old[i + 1]) + 1]++;
        // Entry 0 is the empty suffix, and the one-byte suffix sorts before the longer ones of its first byte.
        var last = old.Length > 0 ? old[^1] << 8 : -1;
        var start = 1;
        for (var k = 0; k < 65536; k++)
        {
            if (k == last) start++;
            buckets[2 * k] = start;
            start += buckets[2 * k + 1];
        }
        return buckets;
    }

    /// <summary>The longest match of <paramref name="target"/> among the old file's suffixes: in its two-byte bucket when that holds any.</summary>
    private static int Search(int[] I, int[]? buckets, ReadOnlySpan<byte> old, ReadOnlySpan<byte> target, out int pos)
    {
        if (target.Length >= 2)
        {
            var k = target[0] << 8 | target[1];
            var (start, count) = buckets is not null ? (buckets[2 * k], buckets[2 * k + 1]) : Bucket(I, old, target[..2]);
            if (count > 0) return Search(I, old, target, start, start + count - 1, out pos);
        }
        return Search(I, old, target, 0, old.Length, out pos);
    }

    /// <summary>The bucket of <paramref name="pair"/> as <see cref="PrefixBuckets"/> gives it: the suffixes beginning with those two bytes.</summary>
    internal static (int Start, int Count) Bucket(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> pair)
    {
        var start = FirstBeyond(I, old, pair, orEqual: false);
        return (start, FirstBeyond(I, old, pair, orEqual: true) - start);
    }

    /// <summary>The first suffix whose first two bytes sort after <paramref name="pair"/> (or equal it, with <paramref name="orEqual"/> false).</summary>
    private static int FirstBeyond(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> pair, bool orEqual)
    {
        // The suffixes' first two bytes rise along the array (a suffix of one byte sorts before the longer ones).
        int low = 0, high = I.Length;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            var suffix = old[I[middle]..];
            var order = suffix[..Math.Min(2, suffix.Length)].SequenceCompareTo(pair);
            if (order < 0 || (orEqual && order == 0)) low = middle + 1;
            else high = middle;
        }
        return low;
    }

    /// <summary>The longest match of <paramref name="target"/> among the old file's suffixes in [start, end], by binary search.</summary>
    private static int Search(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> target, int start, int end, out int pos)
    {
        if (Sse.IsSupported && end - start >= PrefetchFrom) Narrow(I, old, target, ref start, ref end);
        while (end - start >= 2)
        {
            var middle = start + (end - start) / 2;
            // Whole suffixes compared: one that is a proper prefix of the target sorts before it (classic bsdiff cut
            // both to the shorter length, which made the test not monotone and could miss the longest match).
            if (old[I[middle]..].SequenceCompareTo(target) < 0) start = middle;
            else end = middle;
        }
        var x = old[I[start]..].CommonPrefixLength(target);
        var y = old[I[end]..].CommonPrefixLength(target);
        if (x > y) { pos = I[start]; return x; }
        pos = I[end];
        return y;
    }

    /// <summary>Ranges this large are narrowed with prefetches (<see cref="Narrow"/>); the last steps fit in a few cache lines anyway.</summary>
    private const int PrefetchFrom = 64;

    /// <summary>
    /// The binary search's steps over a large range, the same steps as the plain loop, with the next step's memory
    /// fetched while this one compares: the text of both possible next middles (their suffix array entries were fetched a
    /// step before) and the entries of the four middles after them. Each step otherwise waits for two cache misses in
    /// a row, the entry and then its text: most of a scan's time on large versions (biome: a third of the build's CPU
    /// in the comparisons).
    /// </summary>
    private static unsafe void Narrow(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> target, ref int start, ref int end)
    {
        fixed (int* entries = I)
        fixed (byte* text = old)
        {
            while (end - start >= PrefetchFrom)
            {
                var middle = start + (end - start) / 2;
                int below = start + (middle - start) / 2, above = middle + (end - middle) / 2;
                Sse.Prefetch0(text + entries[below]);
                Sse.Prefetch0(text + entries[above]);
                Sse.Prefetch0(entries + start + (below - start) / 2);
                Sse.Prefetch0(entries + below + (middle - below) / 2);
                Sse.Prefetch0(entries + middle + (above - middle) / 2);
                Sse.Prefetch0(entries + above + (end - above) / 2);
                if (old[I[middle]..].SequenceCompareTo(target) < 0) start = middle;
                else end = middle;
            }
        }
    }
}

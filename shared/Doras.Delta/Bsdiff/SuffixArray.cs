using System.Runtime.InteropServices;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// The suffix array of a byte string; entry 0 is the empty suffix. Uses the system's libdivsufsort
/// (Debian package libdivsufsort3; several times faster) when present, otherwise our own Larsson-Sadakane
/// prefix doubling ("qsufsort", the sort bsdiff uses): O(n log n) time, two int arrays of n + 1 entries.
/// Both give the same array: suffix arrays are unique.
/// </summary>
public static partial class SuffixArray
{
    private const string DivSufSort = "libdivsufsort.so.3";
    private static readonly Lazy<bool> NativeAvailable = new(() => NativeLibrary.TryLoad(DivSufSort, typeof(SuffixArray).Assembly, null, out _));

    /// <summary>Whether libdivsufsort is used (for logs and benchmarks).</summary>
    public static bool UsesNative => NativeAvailable.Value;

    /// <summary>
    /// Shorter data is sorted here: libdivsufsort's own set-up (its bucket tables) costs about 0.1 ms a call, more than
    /// sorting a few KiB, and tardiff sorts each changed tar header (20,000 changed members: 2 s of set-up).
    /// </summary>
    public const int NativeFromBytes = 4096;

    public static int[] Build(ReadOnlySpan<byte> data, bool allowNative = true)
    {
        if (allowNative && data.Length >= NativeFromBytes && NativeAvailable.Value) return BuildNative(data);
        return BuildManaged(data);
    }

    private static unsafe int[] BuildNative(ReadOnlySpan<byte> data)
    {
        var I = new int[data.Length + 1];
        I[0] = data.Length; // the empty suffix sorts first
        fixed (byte* text = data)
        fixed (int* sa = &I[1])
        {
            var result = DivSufSortNative(text, sa, data.Length);
            if (result != 0) throw new InvalidOperationException($"divsufsort failed with {result}");
        }
        return I;
    }

    [LibraryImport(DivSufSort, EntryPoint = "divsufsort")]
    private static unsafe partial int DivSufSortNative(byte* text, int* suffixArray, int length);

    private static int[] BuildManaged(ReadOnlySpan<byte> data)
    {
        var n = data.Length;
        var I = new int[n + 1];
        var V = new int[n + 1];
        var buckets = new int[256];
        foreach (var b in data) buckets[b]++;
        for (var i = 1; i < 256; i++) buckets[i] += buckets[i - 1];
        for (var i = 255; i > 0; i--) buckets[i] = buckets[i - 1];
        buckets[0] = 0;
        for (var i = 0; i < n; i++) I[++buckets[data[i]]] = i;
        I[0] = n;
        for (var i = 0; i < n; i++) V[i] = buckets[data[i]];
        V[n] = 0;
        for (var i = 1; i < 256; i++)
            if (buckets[i] == buckets[i - 1] + 1) I[buckets[i]] = -1;
        I[0] = -1;

        for (var h = 1; I[0] != -(n + 1); h += h)
        {
            var len = 0;
            var i = 0;
            while (i < n + 1)
            {
                if (I[i] < 0)
                {
                    len -= I[i];
                    i -= I[i];
                }
                else
                {
                    if (len != 0) I[i - len] = -len;
                    len = V[I[i]] + 1 - i;
                    Split(I, V, i, len, h);
                    i += len;
                    len = 0;
                }
            }
            if (len != 0) I[i - len] = -len;
        }
        for (var i = 0; i < n + 1; i++) I[V[i]] = i;
        return I;
    }

    /// <summary>Ternary-split quicksort of a group by the rank h positions ahead; small groups by selection.</summary>
    private static void Split(int[] I, int[] V, int start, int len, int h)
    {
        while (true)
        {
            if (len < 16)
            {
                for (int k = start, j; k < start + len; k += j)
                {
                    j = 1;
                    var x = V[I[k] + h];
                    for (var i = 1; k + i < start + len; i++)
                    {
                        var y = V[I[k + i] + h];
                        if (y < x) { x = y; j = 0; }
                        if (y == x) { (I[k + j], I[k + i]) = (I[k + i], I[k + j]); j++; }
                    }
                    for (var i = 0; i < j; i++) V[I[k + i]] = k + j - 1;
                    if (j == 1) I[k] = -1;
                }
                return;
            }

            var pivot = V[I[start + len / 2] + h];
            int jj = 0, kk = 0;
            for (var i = start; i < start + len; i++)
            {
                var y = V[I[i] + h];
                if (y < pivot) jj++;
                if (y == pivot) kk++;
            }
            jj += start;
            kk += jj;
            {
                int i = start, j = 0, k = 0;
                while (i < jj)
                {
                    var y = V[I[i] + h];
                    if (y < pivot) i++;
                    else if (y == pivot) { (I[i], I[jj + j]) = (I[jj + j], I[i]); j++; }
                    else { (I[i], I[kk + k]) = (I[kk + k], I[i]); k++; }
                }
                while (jj + j < kk)
                {
                    if (V[I[jj + j] + h] == pivot) j++;
                    else { (I[jj + j], I[kk + k]) = (I[kk + k], I[jj + j]); k++; }
                }
            }
            if (jj > start) Split(I, V, start, jj - start, h);
            for (var i = 0; i < kk - jj; i++) V[I[jj + i]] = kk - 1;
            if (jj == kk - 1) I[jj] = -1;
            if (start + len <= kk) return;
            // The upper group: loop instead of recursing, so the stack grows with one side only.
            len = start + len - kk;
            start = kk;
        }
    }
}

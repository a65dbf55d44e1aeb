using System.Buffers.Binary;
using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Colin Percival's bsdiff: approximate matches found through a suffix array of the old file, each expressed as
/// bytewise differences (mostly zeros on recompiled code, so they compress well) plus extra bytes found nowhere.
/// Our stream interleaves the three classic parts so it can be applied front to back with bounded memory:
/// records of (i64 LE diff length, i64 LE extra length, i64 LE old-position adjustment), then that many diff
/// bytes, then that many extra bytes. The whole stream is compressed by the caller.
/// </summary>
public static class BsdiffDelta
{
    /// <summary>Writes the record stream turning <paramref name="old"/> into <paramref name="new"/>.</summary>
    public static void Write(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, Stream output)
    {
        var I = SuffixArray.Build(old);
        var record = new byte[24];
        var buffer = new byte[1 << 16];
        int oldSize = old.Length, newSize = @new.Length;
        int scan = 0, len = 0, pos = 0, lastScan = 0, lastPos = 0, lastOffset = 0;
        while (scan < newSize)
        {
            var oldScore = 0;
            for (var scsc = scan += len; scan < newSize; scan++)
            {
                len = Search(I, old, @new[scan..], 0, oldSize, out pos);
                for (; scsc < scan + len; scsc++)
                    if (scsc + lastOffset < oldSize && old[scsc + lastOffset] == @new[scsc]) oldScore++;
                if ((len == oldScore && len != 0) || len > oldScore + 8) break;
                if (scan + lastOffset < oldSize && old[scan + lastOffset] == @new[scan]) oldScore--;
            }
            if (len == oldScore && scan != newSize) continue;

            // Extend the previous match forwards and this one backwards, as far as they mostly agree.
            int s = 0, sf = 0, lenf = 0;
            for (var i = 0; lastScan + i < scan && lastPos + i < oldSize;)
            {
                if (old[lastPos + i] == @new[lastScan + i]) s++;
                i++;
                if (s * 2 - i > sf * 2 - lenf) { sf = s; lenf = i; }
            }
            var lenb = 0;
            if (scan < newSize)
            {
                s = 0;
                var sb = 0;
                for (var i = 1; scan >= lastScan + i && pos >= i; i++)
                {
                    if (old[pos - i] == @new[scan - i]) s++;
                    if (s * 2 - i > sb * 2 - lenb) { sb = s; lenb = i; }
                }
            }
            if (lastScan + lenf > scan - lenb)
            {
                var overlap = lastScan + lenf - (scan - lenb);
                s = 0;
                int ss = 0, lens = 0;
                for (var i = 0; i < overlap; i++)
                {
                    if (@new[lastScan + lenf - overlap + i] == old[lastPos + lenf - overlap + i]) s++;
                    if (@new[scan - lenb + i] == old[pos - lenb + i]) s--;
                    if (s > ss) { ss = s; lens = i + 1; }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }

            var extra = scan - lenb - (lastScan + lenf);
            BinaryPrimitives.WriteInt64LittleEndian(record, lenf);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(8), extra);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(16), pos - lenb - (lastPos + lenf));
            output.Write(record);
            for (var done = 0; done < lenf;)
            {
                var n = Math.Min(buffer.Length, lenf - done);
                for (var i = 0; i < n; i++) buffer[i] = (byte)(@new[lastScan + done + i] - old[lastPos + done + i]);
                output.Write(buffer, 0, n);
                done += n;
            }
            output.Write(@new.Slice(lastScan + lenf, extra));

            lastScan = scan - lenb;
            lastPos = pos - lenb;
            lastOffset = pos - scan;
        }
    }

    /// <summary>The longest match of <paramref name="target"/> among the old file's suffixes, by binary search.</summary>
    private static int Search(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> target, int start, int end, out int pos)
    {
        while (end - start >= 2)
        {
            var middle = start + (end - start) / 2;
            var suffix = old[I[middle]..];
            var n = Math.Min(suffix.Length, target.Length);
            if (suffix[..n].SequenceCompareTo(target[..n]) < 0) start = middle;
            else end = middle;
        }
        var x = old[I[start]..].CommonPrefixLength(target);
        var y = old[I[end]..].CommonPrefixLength(target);
        if (x > y) { pos = I[start]; return x; }
        pos = I[end];
        return y;
    }

    /// <summary>
    /// Applies a record stream to the old file (positioned reads, never loaded whole), writing the new file.
    /// Refuses records that reach outside the old file, produce more than <paramref name="maxOutputBytes"/>, or
    /// end early; the caller verifies the result's digest.
    /// </summary>
    public static async Task<long> ApplyAsync(string oldPath, Stream records, Stream output, long maxOutputBytes, CancellationToken ct = default)
    {
        using var old = File.OpenHandle(oldPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        var oldSize = RandomAccess.GetLength(old);
        var record = new byte[24];
        var data = new byte[1 << 16];
        var oldBytes = new byte[1 << 16];
        long oldPos = 0, written = 0;
        while (true)
        {
            var got = await records.ReadAtLeastAsync(record, record.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (got == 0) return written;
            if (got != record.Length) throw new CorruptDeltaException("bsdiff delta is truncated inside a record");
            var diffLength = BinaryPrimitives.ReadInt64LittleEndian(record);
            var extraLength = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(8));
            var adjust = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(16));
            if (diffLength < 0 || extraLength < 0 || diffLength > oldSize - oldPos)
                throw new CorruptDeltaException($"bsdiff delta has a record ({diffLength}, {extraLength}) outside the old file of {oldSize} bytes at {oldPos}");
            if (diffLength > maxOutputBytes - written || extraLength > maxOutputBytes - written - diffLength)
                throw new CorruptDeltaException($"bsdiff delta produces more than the limit of {maxOutputBytes} bytes");

            for (long done = 0; done < diffLength;)
            {
                var n = (int)Math.Min(data.Length, diffLength - done);
                await ReadExactlyAsync(records, data.AsMemory(0, n), ct).ConfigureAwait(false);
                var o = await RandomAccess.ReadAsync(old, oldBytes.AsMemory(0, n), oldPos + done, ct).ConfigureAwait(false);
                if (o != n) throw new CorruptDeltaException("the old file ended early while applying a bsdiff delta");
                for (var i = 0; i < n; i++) data[i] += oldBytes[i];
                await output.WriteAsync(data.AsMemory(0, n), ct).ConfigureAwait(false);
                done += n;
            }
            for (long done = 0; done < extraLength;)
            {
                var n = (int)Math.Min(data.Length, extraLength - done);
                await ReadExactlyAsync(records, data.AsMemory(0, n), ct).ConfigureAwait(false);
                await output.WriteAsync(data.AsMemory(0, n), ct).ConfigureAwait(false);
                done += n;
            }
            written += diffLength + extraLength;
            oldPos += diffLength + adjust;
            if (oldPos < 0 || oldPos > oldSize)
                throw new CorruptDeltaException($"bsdiff delta moves to {oldPos}, outside the old file of {oldSize} bytes");
        }
    }

    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, CancellationToken ct)
    {
        try { await stream.ReadExactlyAsync(buffer, ct).ConfigureAwait(false); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException("bsdiff delta is truncated inside a record's data", e); }
    }
}

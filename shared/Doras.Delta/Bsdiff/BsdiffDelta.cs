using Doras.Delta.Algorithms;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Colin Percival's bsdiff: approximate matches found through a suffix array of the old file, each expressed as
/// bytewise differences (mostly zeros on recompiled code, so they compress well) plus extra bytes found nowhere.
/// Our stream interleaves the three classic parts so it can be applied front to back with bounded memory:
/// records of (diff length, extra length, old-position adjustment) as LEB128 varints (the adjustment
/// zigzag-encoded), then the diff bytes as runs (varint count of unchanged bytes, varint count of differing
/// bytes, those byte differences) until the diff length is covered, then the extra bytes. Run-length coding
/// the long stretches where old and new agree keeps them from costing zstd a few bytes per 128 KiB block.
/// The caller compresses the stream.
/// </summary>
public static class BsdiffDelta
{
    /// <summary>
    /// Where the three parts of the record stream go: control (record headers and run lengths), diff (the byte
    /// differences inside matches) and extra (bytes found nowhere). One stream three times gives the interleaved
    /// form; three streams let each be compressed on its own, as classic bsdiff does, which suits zstd better.
    /// </summary>
    public sealed record Parts(Stream Control, Stream Diff, Stream Extra)
    {
        public static Parts Interleaved(Stream stream) => new(stream, stream, stream);
    }

    /// <summary>Writes the record stream turning <paramref name="old"/> into <paramref name="new"/>.</summary>
    public static void Write(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, Stream output) =>
        Scan(SuffixArray.Build(old), old, @new, Parts.Interleaved(output));

    /// <summary>
    /// Like <see cref="Write(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Stream)"/>, with the match scan (most of the
    /// time on large files) split over up to <paramref name="parallelism"/> parts of the new version, each at
    /// least <paramref name="minPartBytes"/>. Each part finds its matches in the whole old version; parts after the
    /// first are held in memory until their turn, then follow a record that moves the old position back to 0.
    /// </summary>
    public static void Write(byte[] old, byte[] @new, Parts output, int parallelism, int minPartBytes = 4 << 20)
    {
        var I = SuffixArray.Build(old);
        var parts = (int)Math.Clamp(@new.Length / Math.Max(1, minPartBytes), 1, Math.Max(1, parallelism));
        var bounds = Enumerable.Range(0, parts + 1).Select(i => (int)((long)@new.Length * i / parts)).ToArray();
        var later = Enumerable.Range(1, parts - 1).Select(k => Task.Run(() =>
        {
            var buffered = ReferenceEquals(output.Control, output.Diff)
                ? Parts.Interleaved(new MemoryStream())
                : new Parts(new MemoryStream(), new MemoryStream(), new MemoryStream());
            var end = Scan(I, old, @new.AsSpan(bounds[k], bounds[k + 1] - bounds[k]), buffered);
            return (buffered, end);
        })).ToArray();
        var position = Scan(I, old, @new.AsSpan(0, bounds[1]), output);
        foreach (var part in later)
        {
            var (buffered, end) = part.GetAwaiter().GetResult();
            WriteRecord(output.Control, 0, 0, -position);
            foreach (var (from, to) in new[] { (buffered.Control, output.Control), (buffered.Diff, output.Diff), (buffered.Extra, output.Extra) }.DistinctBy(p => p.Item1))
                to.Write(((MemoryStream)from).GetBuffer(), 0, (int)from.Length);
            position = end;
        }
    }

    /// <summary>The classic scan: writes the records turning old into new; returns the old position it ends at.</summary>
    private static long Scan(int[] I, ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, Parts output)
    {
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
            WriteRecord(output.Control, lenf, extra, pos - lenb - (lastPos + lenf));
            WriteDiffRuns(output, old.Slice(lastPos, lenf), @new.Slice(lastScan, lenf), buffer);
            output.Extra.Write(@new.Slice(lastScan + lenf, extra));

            lastScan = scan - lenb;
            lastPos = pos - lenb;
            lastOffset = pos - scan;
        }
        return lastPos;
    }

    /// <summary>The byte differences of a match as (unchanged count, differing count, differences) runs.</summary>
    private static void WriteDiffRuns(Parts output, ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, byte[] buffer)
    {
        const int MinGap = 8192; // shorter stretches of agreement stay inside a differing run (zstd codes them well); measured on the npm corpus
        var i = 0;
        while (i < old.Length)
        {
            var same = old[i..].CommonPrefixLength(@new[i..]);
            var start = i + same;
            var end = start;
            while (end < old.Length)
            {
                if (old[end] != @new[end]) { end++; continue; }
                var gap = old[end..].CommonPrefixLength(@new[end..]);
                if (gap >= MinGap || end + gap == old.Length) break;
                end += gap;
            }
            Varint.Write(output.Control, (ulong)same);
            Varint.Write(output.Control, (ulong)(end - start));
            for (var done = start; done < end;)
            {
                var n = Math.Min(buffer.Length, end - done);
                ByteDifferences.Subtract(@new.Slice(done, n), old.Slice(done, n), buffer.AsSpan(0, n));
                output.Diff.Write(buffer, 0, n);
                done += n;
            }
            i = end;
        }
    }

    /// <summary>Writes one record header: diff and extra lengths, and the zigzag-encoded old-position adjustment.</summary>
    public static void WriteRecord(Stream output, long diffLength, long extraLength, long adjust)
    {
        Varint.Write(output, (ulong)diffLength);
        Varint.Write(output, (ulong)extraLength);
        Varint.Write(output, (ulong)((adjust << 1) ^ (adjust >> 63)));
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

    private const string What = "bsdiff delta";

    /// <summary>
    /// Applies a record stream to the old file (positioned reads, never loaded whole), writing the new file.
    /// Refuses records that reach outside the old file, produce more than <paramref name="maxOutputBytes"/>, or
    /// end early; the caller verifies the result's digest.
    /// </summary>
    public static async Task<long> ApplyAsync(string oldPath, Stream records, Stream output, long maxOutputBytes, CancellationToken ct = default) =>
        await ApplyAsync(oldPath, Parts.Interleaved(records), output, maxOutputBytes, ct).ConfigureAwait(false);

    /// <summary>Applies the three parts, read side by side; the diff and extra parts must end with the records.</summary>
    public static async Task<long> ApplyAsync(string oldPath, Parts parts, Stream output, long maxOutputBytes, CancellationToken ct = default)
    {
        using var old = File.OpenHandle(oldPath, FileMode.Open, FileAccess.Read, FileShare.Read); // read synchronously (OldFileWindow)
        return await ApplyAsync(old, 0, RandomAccess.GetLength(old), parts, output, maxOutputBytes, ct).ConfigureAwait(false);
    }

    /// <summary>Applies a record stream to the region [<paramref name="oldStart"/>, +<paramref name="oldSize"/>) of an open old file.</summary>
    public static Task<long> ApplyAsync(SafeFileHandle oldFile, long oldStart, long oldSize, Stream records, Stream output, long maxOutputBytes, CancellationToken ct = default) =>
        ApplyAsync(oldFile, oldStart, oldSize, Parts.Interleaved(records), output, maxOutputBytes, ct);

    private static async Task<long> ApplyAsync(SafeFileHandle oldFile, long oldStart, long oldSize, Parts parts, Stream output, long maxOutputBytes, CancellationToken ct)
    {
        var records = new BufferedStream(parts.Control, 1 << 16);
        var interleaved = ReferenceEquals(parts.Control, parts.Diff);
        // Apart, diff and extra bytes are read in runs straight from their decoders (no copy through a buffer).
        var diffs = interleaved ? records : parts.Diff;
        var extras = interleaved ? records : parts.Extra;
        var data = new byte[1 << 16];
        var old = new OldFileWindow(oldFile, oldStart, oldSize);
        long oldPos = 0, written = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (Varint.Read(records, endAllowed: true, What) is not { } first)
            {
                if (!interleaved && (diffs.ReadByte() >= 0 || extras.ReadByte() >= 0))
                    throw new CorruptDeltaException("bsdiff delta has diff or extra bytes no record uses");
                return written;
            }
            var diffLength = (long)first;
            var extraLength = (long)Varint.Read(records, endAllowed: false, What)!.Value;
            var zigzag = Varint.Read(records, endAllowed: false, What)!.Value;
            var adjust = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
            if (diffLength < 0 || extraLength < 0 || diffLength > oldSize - oldPos)
                throw new CorruptDeltaException($"bsdiff delta has a record ({diffLength}, {extraLength}) outside the old file of {oldSize} bytes at {oldPos}");
            if (diffLength > maxOutputBytes - written || extraLength > maxOutputBytes - written - diffLength)
                throw new CorruptDeltaException($"bsdiff delta produces more than the limit of {maxOutputBytes} bytes");

            for (long covered = 0; covered < diffLength;)
            {
                var same = (long)Varint.Read(records, endAllowed: false, What)!.Value;
                var differing = (long)Varint.Read(records, endAllowed: false, What)!.Value;
                // Each compared with what is left on its own: a sum of two hostile lengths could wrap past long.MaxValue.
                if (same < 0 || differing < 0 || same > diffLength - covered || differing > diffLength - covered - same || same + differing == 0)
                    throw new CorruptDeltaException($"bsdiff delta has a malformed run ({same}, {differing}) in a match of {diffLength} bytes");
                for (long done = 0; done < same + differing;)
                {
                    // The first `same` bytes are the old ones unchanged; the rest add a difference read from the delta.
                    var oldBytes = old.At(oldPos + covered + done, (int)Math.Min(data.Length, same + differing - done), diffLength - covered - done);
                    var n = oldBytes.Length;
                    var unchanged = (int)Math.Clamp(same - done, 0, n);
                    if (unchanged < n)
                    {
                        await ReadExactlyAsync(diffs, data.AsMemory(unchanged, n - unchanged), ct).ConfigureAwait(false);
                        oldBytes.Span[..unchanged].CopyTo(data);
                        ByteDifferences.Add(oldBytes.Span[unchanged..], data.AsSpan(unchanged, n - unchanged), data.AsSpan(unchanged, n - unchanged));
                        oldBytes = data.AsMemory(0, n);
                    }
                    output.Write(oldBytes.Span);
                    done += n;
                }
                covered += same + differing;
            }
            for (long done = 0; done < extraLength;)
            {
                var n = (int)Math.Min(data.Length, extraLength - done);
                await ReadExactlyAsync(extras, data.AsMemory(0, n), ct).ConfigureAwait(false);
                output.Write(data, 0, n);
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

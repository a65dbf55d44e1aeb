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
    /// <paramref name="MinUnchangedRun"/> is the shortest stretch of agreement inside a match that ends a differing
    /// run (a pair of run lengths in control); shorter ones stay in the diff part as zeros. It is the encoder's choice
    /// (the device reads whatever runs the control part gives) and depends on the coder: see <see cref="ZstdUnchangedRun"/>
    /// and <see cref="LzmaUnchangedRun"/>.
    /// </summary>
    public sealed record Parts(Stream Control, Stream Diff, Stream Extra, int MinUnchangedRun = ZstdUnchangedRun)
    {
        public static Parts Interleaved(Stream stream) => new(stream, stream, stream);
    }

    /// <summary>
    /// For zstd: shorter stretches of agreement stay inside a differing run, as zstd codes zeros well (measured on the
    /// npm corpus).
    /// </summary>
    public const int ZstdUnchangedRun = 8192;

    /// <summary>
    /// For LZMA2 (bsdiff-lzma, bsdiff-exe): LZMA's optimal parser spends most of a build on the diff part's zeros, so
    /// stretches of 256 agreeing bytes leave it as run lengths. Measured on 4 executables (benchmarks/RESULTS.md,
    /// 2026-12-07) and 8 JavaScript and tar pairs: every delta smaller or the same (esbuild 248,596 -> 247,171 bytes,
    /// biome 5,778,271 -> 5,733,707, the 8 text pairs 882,181 -> 879,079 in total) for 13-16 % less LZMA2 CPU on the
    /// executables; 64 and 128 lost bytes on some pairs (prettier's tar +3.6 % at 64), 512 and 1024 saved less.
    /// </summary>
    public const int LzmaUnchangedRun = 256;

    /// <summary>Writes the record stream turning <paramref name="old"/> into <paramref name="new"/>.</summary>
    public static void Write(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, Stream output) =>
        Write(old, @new, MatchScan.Find(old.ToArray(), @new.ToArray()), Parts.Interleaved(output));

    /// <summary>
    /// Like <see cref="Write(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Stream)"/>, with the match scan split over up
    /// to <paramref name="parallelism"/> parts of the new version (<see cref="MatchScan.Find(byte[], ReadOnlyMemory{byte}, int, int, CancellationToken, bool, DoneWith)"/>).
    /// </summary>
    public static void Write(byte[] old, ReadOnlyMemory<byte> @new, Parts output, int parallelism, int minPartBytes = 4 << 20, DoneWith? doneWith = null,
        CancellationToken ct = default) =>
        Write(old, @new.Span, MatchScan.Find(old, @new, parallelism, minPartBytes, ct, doneWith: doneWith), output, doneWith: doneWith, ct: ct);

    /// <summary>
    /// Writes the records of <paramref name="matches"/> (in the order of the new version). With a
    /// <paramref name="prediction"/>, each match's differences are taken from its prediction of the new bytes
    /// instead of the old bytes themselves; the device must apply with the same prediction.
    /// </summary>
    public static void Write(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, IReadOnlyList<BsdiffMatch> matches, Parts output, IMatchPrediction? prediction = null,
        DoneWith? doneWith = null, CancellationToken ct = default)
    {
        var buffer = new byte[1 << 16];
        var predicted = Array.Empty<byte>();
        var given = 0;
        for (var k = 0; k < matches.Count; k++)
        {
            var match = matches[k];
            if ((k & 4095) == 0) ct.ThrowIfCancellationRequested();
            // The records go through the new version in order: what is behind this one is not read again.
            if (doneWith is not null && match.NewStart - given >= MatchScan.DoneWithStep)
            {
                doneWith(given, (int)match.NewStart);
                given = (int)match.NewStart;
            }
            var oldEnd = match.OldStart + match.Length;
            WriteRecord(output.Control, match.Length, match.ExtraLength, (k + 1 < matches.Count ? matches[k + 1].OldStart : oldEnd) - oldEnd);
            var oldBytes = old.Slice((int)match.OldStart, (int)match.Length);
            if (prediction is not null && match.Length > 0)
            {
                if (predicted.Length < match.Length) predicted = new byte[match.Length];
                oldBytes.CopyTo(predicted);
                prediction.Predict(match, 0, predicted.AsSpan(0, (int)match.Length));
                oldBytes = predicted.AsSpan(0, (int)match.Length);
            }
            WriteDiffRuns(output, oldBytes, @new.Slice((int)match.NewStart, (int)match.Length), buffer);
            output.Extra.Write(@new.Slice((int)(match.NewStart + match.Length), (int)match.ExtraLength));
        }
    }

    /// <summary>The byte differences of a match as (unchanged count, differing count, differences) runs.</summary>
    private static void WriteDiffRuns(Parts output, ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, byte[] buffer)
    {
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
                if (gap >= output.MinUnchangedRun || end + gap == old.Length) break;
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
        return await ApplyAsync(old, parts, output, maxOutputBytes, prediction: null, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies the three parts to a whole open old file; with a <paramref name="prediction"/>, each match's
    /// differences are added to its prediction (<see cref="MatchPredictionFactory.Create(Stream, SafeFileHandle, long, CancellationToken)"/>).
    /// </summary>
    public static Task<long> ApplyAsync(SafeFileHandle oldFile, Parts parts, Stream output, long maxOutputBytes, IMatchPrediction? prediction, CancellationToken ct)
    {
        var oldSize = RandomAccess.GetLength(oldFile);
        return ApplyAsync(new OldFileWindow(oldFile, 0, oldSize), oldSize, parts, output, maxOutputBytes, prediction, ct);
    }

    /// <summary>Applies a record stream to the region [<paramref name="oldStart"/>, +<paramref name="oldSize"/>) of an open old file.</summary>
    public static Task<long> ApplyAsync(SafeFileHandle oldFile, long oldStart, long oldSize, Stream records, Stream output, long maxOutputBytes, CancellationToken ct = default) =>
        ApplyAsync(new OldFileWindow(oldFile, oldStart, oldSize), oldSize, Parts.Interleaved(records), output, maxOutputBytes, prediction: null, ct);

    /// <summary>Applies the parts to the old version read through <paramref name="old"/> (which the prediction may read through too).</summary>
    internal static Task<long> ApplyAsync(OldFileWindow old, long oldSize, Parts parts, Stream output, long maxOutputBytes,
        IMatchPrediction? prediction, CancellationToken ct)
    {
        try { return Task.FromResult(Apply(old, oldSize, parts, output, maxOutputBytes, prediction, ct)); }
        catch (Exception e) { return Task.FromException<long>(e); }
    }

    /// <summary>
    /// The apply, synchronous: the records are read so already (a varint at a time), and a read of diff or extra
    /// bytes through the asynchronous machinery cost more than the copy it made (biome: one per run, 3 % of the CPU).
    /// </summary>
    private static long Apply(OldFileWindow old, long oldSize, Parts parts, Stream output, long maxOutputBytes, IMatchPrediction? prediction, CancellationToken ct)
    {
        var reader = new RecordReader(new RecordStream(parts.Control), oldSize, maxOutputBytes);
        var interleaved = ReferenceEquals(parts.Control, parts.Diff);
        // Apart, diff and extra bytes are read in runs straight from their decoders (no copy through a buffer).
        var diffs = interleaved ? reader.Records : parts.Diff;
        var extras = interleaved ? reader.Records : parts.Extra;
        var pieces = new OutputPieces(output);
        var differences = new byte[1 << 16];
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (reader.Next() is not { } match)
            {
                if (!interleaved && (diffs.ReadByte() >= 0 || extras.ReadByte() >= 0))
                    throw new CorruptDeltaException("bsdiff delta has diff or extra bytes no record uses");
                return reader.Written;
            }
            for (long covered = 0; covered < match.Length;)
            {
                var (same, differing) = reader.NextRun(match, covered);
                for (long done = 0; done < same + differing;)
                {
                    // The first `same` bytes are the old ones (or their prediction) unchanged; the rest add a difference read from the delta.
                    var piece = pieces.Next();
                    var oldBytes = old.At(match.OldStart + covered + done, (int)Math.Min(piece.Length, same + differing - done), match.Length - covered - done).Span;
                    var n = oldBytes.Length;
                    piece = piece[..n];
                    oldBytes.CopyTo(piece);
                    prediction?.Predict(match, covered + done, piece);
                    var unchanged = (int)Math.Clamp(same - done, 0, n);
                    if (unchanged < n)
                    {
                        var difference = differences.AsSpan(0, n - unchanged);
                        ReadExactly(diffs, difference);
                        ByteDifferences.Add(piece[unchanged..], difference, piece[unchanged..]);
                    }
                    pieces.Commit(n);
                    done += n;
                }
                covered += same + differing;
            }
            for (long done = 0; done < match.ExtraLength;)
            {
                var piece = pieces.Next();
                var n = (int)Math.Min(piece.Length, match.ExtraLength - done);
                ReadExactly(extras, piece[..n]);
                pieces.Commit(n);
                done += n;
            }
            reader.Finish(match);
        }
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer)
    {
        try { stream.ReadExactly(buffer); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException("bsdiff delta is truncated inside a record's data", e); }
    }
}

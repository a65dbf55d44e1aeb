using System.Security.Cryptography;
using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Delta.Zstd;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Tardiff;

/// <summary>How the members of a new tar were expressed (for logs, tests and benchmarks).</summary>
/// <param name="Copied">Members referenced unchanged.</param>
/// <param name="Renamed">Members matched to an old one of another path (by content or file name).</param>
/// <param name="Added">Members with nothing to be expressed against, sent as they are.</param>
/// <param name="Bsdiff">Changed regions (headers or data) sent as bsdiff deltas.</param>
/// <param name="Zstd">Changed regions sent as zstd patches.</param>
/// <param name="Literal">Changed regions sent as they are (a delta would not be smaller).</param>
/// <param name="Executable">Changed executables sent as bsdiff-exe deltas.</param>
public sealed record TardiffStats(int Members, int Copied, int Renamed, int Added, int Bsdiff, int Zstd, int Literal, int Executable = 0);

/// <summary>
/// A delta between two tar archives that works member by member: each member of the new archive is matched
/// to one of the old archive, by path, else by content (renames and moves), else by file name (moved and
/// changed); unchanged members are referenced, changed ones get the smallest of a bsdiff delta, a zstd
/// patch against the old member, or their bytes; new ones are sent as they are. The result rebuilds the new
/// archive byte for byte, so every mode, time, owner, symlink and pax record is preserved, and its digest
/// can be verified before anything is extracted.
///
/// The stream is a sequence of operations, each a one-byte code then varints:
/// <c>1 Copy(oldOffset, length)</c>, <c>2 Literal(length, bytes)</c>,
/// <c>3 Bsdiff(oldOffset, oldLength, newLength, recordsLength, records)</c>,
/// <c>4 Zstd(oldOffset, oldLength, newLength, frameLength, frame)</c> (a frame with the old member as its
/// prefix), <c>5 Executable(oldOffset, oldLength, newLength, deltaLength, delta)</c> (a complete bsdiff-exe delta
/// between the old and new member, for ELF executables and libraries, where it is the smallest), and <c>0 End</c>. The caller compresses it. Applying reads the old archive through positioned
/// reads and, for zstd operations, a memory map; memory stays bounded whatever the archive's size.
/// </summary>
public static class TardiffDelta
{
    private enum Op : byte { End = 0, Copy = 1, Literal = 2, Bsdiff = 3, Zstd = 4, Executable = 5 }

    /// <summary>zstd operations are only made for members whose window the device can afford (16 MiB).</summary>
    private const int MaxZstdWindowLog = 24;

    /// <summary>Regions this small (headers) go straight to bsdiff: choosing costs more than it saves.</summary>
    private const int SmallRegion = 4096;

    /// <summary>A zstd frame counts this many times its length against bsdiff's records and literals (see Region).</summary>
    private const int ZstdFrameWeight = 2;

    private const string What = "tardiff delta";

    /// <summary>
    /// Writes the operations turning the <paramref name="old"/> archive into the <paramref name="new"/> one.
    /// Throws <see cref="Artifacts.IncompatibleArtifactException"/> when either is not a tar archive.
    /// </summary>
    /// <param name="level">zstd level used to compare candidates and for zstd operations.</param>
    /// <param name="bsdiffMaxBytes">Members larger than this are not given to bsdiff (its memory is about 11 bytes per byte: the suffix array and its work space, and copies of both members for the match index).</param>
    public static TardiffStats Write(NativeView old, NativeView @new, Stream output, int level, long bsdiffMaxBytes, CancellationToken ct = default)
    {
        var (oldMembers, oldTrailer) = TarIndex.Read(old);
        var (newMembers, newTrailer) = TarIndex.Read(@new);
        var matcher = new MemberMatcher(old, oldMembers);
        var writer = new OpWriter(old, @new, output, level, bsdiffMaxBytes);
        int copied = 0, renamed = 0, added = 0;
        foreach (var member in newMembers)
        {
            ct.ThrowIfCancellationRequested();
            var (match, byPath) = matcher.Find(member, @new);
            if (match is null)
            {
                added++;
                writer.Literal(member.Start, member.End - member.Start);
                continue;
            }
            if (!byPath) renamed++;
            var changedBefore = writer.Changed;
            writer.Region(match.Start, match.HeaderLength, member.Start, member.HeaderLength, counted: !byPath);
            writer.Region(match.DataStart, match.DataLength, member.DataStart, member.DataLength, counted: !byPath);
            if (writer.Changed == changedBefore) copied++;
        }
        writer.Region(oldTrailer, old.Length - oldTrailer, newTrailer, @new.Length - newTrailer);
        writer.End();
        return new TardiffStats(newMembers.Count, copied, renamed, added, writer.BsdiffCount, writer.ZstdCount, writer.LiteralCount, writer.ExecutableCount);
    }

    /// <summary>Finds the old member a new one is best expressed against.</summary>
    private sealed class MemberMatcher
    {
        private readonly Dictionary<string, TarMember> _byPath = new(StringComparer.Ordinal);
        private readonly Dictionary<(long, string), TarMember> _byContent = [];
        private readonly Dictionary<string, TarMember?> _byFileName = new(StringComparer.Ordinal); // null: ambiguous

        public MemberMatcher(NativeView old, IReadOnlyList<TarMember> members)
        {
            foreach (var member in members)
            {
                _byPath[member.Path] = member;
                if (!member.IsRegularFile || member.DataSize == 0) continue;
                _byContent.TryAdd((member.DataSize, ContentHash(old, member)), member);
                var name = FileName(member.Path);
                _byFileName[name] = _byFileName.ContainsKey(name) ? null : member;
            }
        }

        public (TarMember? Match, bool ByPath) Find(TarMember member, NativeView archive)
        {
            if (_byPath.TryGetValue(member.Path, out var samePath) && samePath.IsRegularFile == member.IsRegularFile)
                return (samePath, true);
            if (!member.IsRegularFile || member.DataSize == 0) return (null, false);
            if (_byContent.TryGetValue((member.DataSize, ContentHash(archive, member)), out var sameContent))
                return (sameContent, false);
            return (_byFileName.GetValueOrDefault(FileName(member.Path)), false);
        }

        private static string FileName(string path) => path.TrimEnd('/')[(path.TrimEnd('/').LastIndexOf('/') + 1)..];

        private static string ContentHash(NativeView archive, TarMember member)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (long done = 0; done < member.DataSize;)
            {
                var n = (int)Math.Min(1 << 30, member.DataSize - done);
                hash.AppendData(archive.Span(member.DataStart + done, n));
                done += n;
            }
            return Convert.ToHexString(hash.GetCurrentHash());
        }
    }

    /// <summary>Writes operations, merging adjacent copies and literals, and picks the smallest encoding of each changed region.</summary>
    private sealed class OpWriter(NativeView old, NativeView @new, Stream output, int level, long bsdiffMaxBytes)
    {
        private long _copyFrom = -1, _copyLength, _literalFrom = -1, _literalLength;

        /// <summary>
        /// The bytes of changed regions (old and new) of members not matched by path left to express by a delta; past
        /// them such members go as literals. Each delta indexes its old region (a suffix sort, a zstd dictionary), and
        /// one old member may be the base of any number of new ones matched by file name (a crafted tree of 80 copies of
        /// d*/big against one 4 MB big took 13.8 s). Matches by path are one to one, so they are not counted: a large
        /// member changed in place keeps its delta whatever came before it. Twice both archives.
        /// </summary>
        private long _deltaBudget = 2 * (old.Length + @new.Length);

        public int BsdiffCount { get; private set; }
        public int ZstdCount { get; private set; }
        public int LiteralCount { get; private set; }
        public int ExecutableCount { get; private set; }

        /// <summary>How many regions were not plain copies so far.</summary>
        public int Changed => BsdiffCount + ZstdCount + LiteralCount + ExecutableCount;

        /// <summary>Expresses new[newStart, +newLength) against old[oldStart, +oldLength); a delta of a <paramref name="counted"/> region spends the budget.</summary>
        public void Region(long oldStart, long oldLength, long newStart, long newLength, bool counted = false)
        {
            if (newLength == 0) return;
            if (oldLength == newLength && oldLength <= int.MaxValue && old.Span(oldStart, (int)oldLength).SequenceEqual(@new.Span(newStart, (int)newLength)))
            {
                Copy(oldStart, oldLength);
                return;
            }
            if (oldLength == 0 || Math.Max(oldLength, newLength) > int.MaxValue)
            {
                LiteralCount++;
                Literal(newStart, newLength);
                return;
            }
            if (counted)
            {
                if (oldLength + newLength > _deltaBudget)
                {
                    LiteralCount++;
                    Literal(newStart, newLength);
                    return;
                }
                _deltaBudget -= oldLength + newLength;
            }
            var oldBytes = old.Span(oldStart, (int)oldLength);
            var newBytes = @new.Span(newStart, (int)newLength);
            var records = Math.Max(oldLength, newLength) <= bsdiffMaxBytes ? BsdiffRecords(oldBytes, newBytes) : null;
            if (records is not null && newLength <= SmallRegion)
            {
                WriteBsdiff(oldStart, oldLength, newLength, records);
                return;
            }
            var bsdiffCost = records is null ? long.MaxValue : CompressedSize(records.GetBuffer().AsSpan(0, (int)records.Length));
            var literalCost = CompressedSize(newBytes);
            var zstdFrame = ZstdCompressionOptions.WindowLogFor(Math.Max(oldLength, newLength)) <= MaxZstdWindowLog
                ? ZstdFrameIfItCanWin(old.Slice(oldStart, oldLength), newBytes, Math.Min(bsdiffCost, literalCost))
                : null;
            // bsdiff's records compress better inside the whole stream than alone (measured on npm packages), so a
            // zstd frame, which is final, must be clearly smaller to win.
            var zstdCost = zstdFrame is null ? long.MaxValue : zstdFrame.Length * ZstdFrameWeight;
            // An executable's own delta is final (compressed) and measured 27-35 % under bsdiff-lzma's: it wins when smaller.
            if (TardiffExecutables.Delta(oldBytes, newBytes) is { } executable && executable.Length < Math.Min(bsdiffCost, Math.Min(zstdCost, literalCost)))
            {
                ExecutableCount++;
                WriteChange(Op.Executable, oldStart, oldLength, newLength, executable);
            }
            else if (bsdiffCost <= zstdCost && bsdiffCost <= literalCost) WriteBsdiff(oldStart, oldLength, newLength, records!);
            else if (zstdCost <= literalCost) WriteZstd(oldStart, oldLength, newLength, zstdFrame!);
            else
            {
                LiteralCount++;
                Literal(newStart, newLength);
            }
        }

        public void Copy(long oldStart, long length)
        {
            FlushLiteral();
            if (_copyFrom >= 0 && _copyFrom + _copyLength == oldStart)
            {
                _copyLength += length;
                return;
            }
            FlushCopy();
            (_copyFrom, _copyLength) = (oldStart, length);
        }

        public void Literal(long newStart, long length)
        {
            FlushCopy();
            if (_literalFrom >= 0 && _literalFrom + _literalLength == newStart)
            {
                _literalLength += length;
                return;
            }
            FlushLiteral();
            (_literalFrom, _literalLength) = (newStart, length);
        }

        public void End()
        {
            FlushCopy();
            FlushLiteral();
            output.WriteByte((byte)Op.End);
        }

        private void WriteBsdiff(long oldStart, long oldLength, long newLength, MemoryStream records)
        {
            BsdiffCount++;
            WriteChange(Op.Bsdiff, oldStart, oldLength, newLength, records.GetBuffer().AsSpan(0, (int)records.Length));
        }

        private void WriteZstd(long oldStart, long oldLength, long newLength, byte[] frame)
        {
            ZstdCount++;
            WriteChange(Op.Zstd, oldStart, oldLength, newLength, frame);
        }

        private void WriteChange(Op op, long oldStart, long oldLength, long newLength, ReadOnlySpan<byte> payload)
        {
            FlushCopy();
            FlushLiteral();
            output.WriteByte((byte)op);
            Varint.Write(output, oldStart);
            Varint.Write(output, oldLength);
            Varint.Write(output, newLength);
            Varint.Write(output, (long)payload.Length);
            output.Write(payload);
        }

        private void FlushCopy()
        {
            if (_copyFrom < 0) return;
            output.WriteByte((byte)Op.Copy);
            Varint.Write(output, _copyFrom);
            Varint.Write(output, _copyLength);
            _copyFrom = -1;
        }

        private void FlushLiteral()
        {
            if (_literalFrom < 0) return;
            output.WriteByte((byte)Op.Literal);
            Varint.Write(output, _literalLength);
            for (long done = 0; done < _literalLength;)
            {
                var n = (int)Math.Min(1 << 30, _literalLength - done);
                output.Write(@new.Span(_literalFrom + done, n));
                done += n;
            }
            _literalFrom = -1;
        }

        private static MemoryStream BsdiffRecords(ReadOnlySpan<byte> oldBytes, ReadOnlySpan<byte> newBytes)
        {
            var records = new MemoryStream();
            BsdiffDelta.Write(oldBytes, newBytes, records);
            return records;
        }

        /// <summary>
        /// The zstd frame of the region at <c>level</c>, probed at <see cref="ZstdPatchAlgorithm.ProbeLevel"/> first as
        /// <c>auto</c> probes whole versions: when even the share of the probe the full level reaches at best
        /// (<see cref="ZstdPatchAlgorithm.ProbeShare"/>) would not beat <paramref name="toBeat"/>, the probe is returned
        /// and loses; the full level's build (most of tardiff's time on prettier's tar) is skipped.
        /// </summary>
        private byte[] ZstdFrameIfItCanWin(NativeView prefix, ReadOnlySpan<byte> newBytes, long toBeat)
        {
            if (level <= ZstdPatchAlgorithm.ProbeLevel) return ZstdPatch(prefix, newBytes, level);
            var probe = ZstdPatch(prefix, newBytes, ZstdPatchAlgorithm.ProbeLevel);
            return ZstdPatchAlgorithm.FullLevelMayBeat(probe.Length * ZstdFrameWeight, toBeat) ? ZstdPatch(prefix, newBytes, level) : probe;
        }

        private static byte[] ZstdPatch(NativeView prefix, ReadOnlySpan<byte> newBytes, int level)
        {
            var frame = new MemoryStream();
            using (var encoder = new ZstdEncoderStream(frame, ZstdCompressionOptions.ForPatch(prefix.Length, newBytes.Length, level) with { Checksum = false }, prefix, leaveOpen: true))
                encoder.Write(newBytes);
            return frame.ToArray();
        }

        /// <summary>
        /// What a part costs once compressed, to compare candidates (the whole stream is compressed again later). At
        /// zstd's probe level at most, with the size pledged so zstd sizes its tables to the part: at level 19 these estimates
        /// were 1.1 s of prettier's 2.4 s (a level-19 encoder without a size takes tens of MiB, page-faulted in for
        /// each part). With the probe below, tardiff's deltas of five npm package tars (prettier, typescript, sass,
        /// @babel/standalone, echarts) came out byte for byte the same in 1.8-8x less CPU (echarts 77 -> 30 s).
        /// </summary>
        private long CompressedSize(ReadOnlySpan<byte> bytes)
        {
            var counter = new CountingStream();
            using (var encoder = new ZstdEncoderStream(counter, new ZstdCompressionOptions { Level = Math.Min(level, ZstdPatchAlgorithm.ProbeLevel), Checksum = false, PledgedSize = bytes.Length }, leaveOpen: true))
                encoder.Write(bytes);
            return counter.Count;
        }
    }

    /// <summary>Counts what is written to it and keeps nothing.</summary>
    private sealed class CountingStream : Stream
    {
        public long Count { get; private set; }
        public override void Write(byte[] buffer, int offset, int count) => Count += count;
        public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// Applies an operation stream to the old archive, writing the new one. Refuses operations that reach
    /// outside the old archive, produce more than <paramref name="maxOutputBytes"/>, are unknown, or end before
    /// <c>End</c>; the caller verifies the result's digest.
    /// </summary>
    public static async Task<long> ApplyAsync(string oldPath, Stream operations, Stream output, long maxOutputBytes, CancellationToken ct = default)
    {
        using var old = File.OpenHandle(oldPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        var oldSize = RandomAccess.GetLength(old);
        NativeView? mapped = null; // only zstd operations need the old archive mapped
        try
        {
            var ops = new BufferedStream(operations, 1 << 16);
            var buffer = new byte[1 << 16];
            long written = 0;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var code = ops.ReadByte();
                switch (code)
                {
                    case < 0:
                        throw new CorruptDeltaException($"{What} is truncated (no end marker)");
                    case (int)Op.End:
                        if (ops.ReadByte() >= 0) throw new CorruptDeltaException($"{What} has data after its end marker");
                        return written;
                    case (int)Op.Copy:
                    {
                        var (from, length) = (Varint.ReadLength(ops, What), Varint.ReadLength(ops, What));
                        CheckRegion(from, length, oldSize);
                        CheckOutput(length, written, maxOutputBytes);
                        await CopyFromOldAsync(old, from, length, output, buffer, ct).ConfigureAwait(false);
                        written += length;
                        break;
                    }
                    case (int)Op.Literal:
                    {
                        var length = Varint.ReadLength(ops, What);
                        CheckOutput(length, written, maxOutputBytes);
                        var part = new BoundedReadStream(ops, length);
                        await part.CopyToAsync(output, buffer.Length, ct).ConfigureAwait(false);
                        if (part.Remaining > 0) throw new CorruptDeltaException($"{What} is truncated inside a literal");
                        written += length;
                        break;
                    }
                    case (int)Op.Bsdiff or (int)Op.Zstd:
                    {
                        var (from, oldLength, newLength, payloadLength) = (Varint.ReadLength(ops, What), Varint.ReadLength(ops, What), Varint.ReadLength(ops, What), Varint.ReadLength(ops, What));
                        CheckRegion(from, oldLength, oldSize);
                        CheckOutput(newLength, written, maxOutputBytes);
                        var payload = new BoundedReadStream(ops, payloadLength);
                        var produced = code == (int)Op.Bsdiff
                            ? await BsdiffDelta.ApplyAsync(old, from, oldLength, payload, output, newLength, ct).ConfigureAwait(false)
                            : await ApplyZstdAsync(mapped ??= NativeView.MapFile(oldPath), from, oldLength, payload, output, newLength, ct).ConfigureAwait(false);
                        if (produced != newLength || payload.Remaining > 0)
                            throw new CorruptDeltaException($"{What} has a member that produced {produced} bytes instead of {newLength}, or was truncated");
                        written += newLength;
                        break;
                    }
                    case (int)Op.Executable:
                    {
                        var (from, oldLength, newLength, payloadLength) = (Varint.ReadLength(ops, What), Varint.ReadLength(ops, What), Varint.ReadLength(ops, What), Varint.ReadLength(ops, What));
                        CheckRegion(from, oldLength, oldSize);
                        CheckOutput(newLength, written, maxOutputBytes);
                        var payload = new BoundedReadStream(ops, payloadLength);
                        var produced = await TardiffExecutables.ApplyAsync(old, oldPath, from, oldLength, payload, output, newLength, ct).ConfigureAwait(false);
                        if (produced != newLength || payload.Remaining > 0)
                            throw new CorruptDeltaException($"{What} has an executable that produced {produced} bytes instead of {newLength}, or was truncated");
                        written += newLength;
                        break;
                    }
                    default:
                        throw new CorruptDeltaException($"{What} has an unknown operation {code}");
                }
            }
        }
        finally
        {
            mapped?.Dispose();
        }
    }

    private static void CheckRegion(long from, long length, long oldSize)
    {
        if (from > oldSize || length > oldSize - from)
            throw new CorruptDeltaException($"{What} refers to bytes [{from}, +{length}) outside the old archive of {oldSize} bytes");
    }

    private static void CheckOutput(long length, long written, long maxOutputBytes)
    {
        if (length > maxOutputBytes - written)
            throw new CorruptDeltaException($"{What} produces more than the limit of {maxOutputBytes} bytes");
    }

    private static async Task CopyFromOldAsync(SafeFileHandle old, long from, long length, Stream output, byte[] buffer, CancellationToken ct)
    {
        for (long done = 0; done < length;)
        {
            var n = await RandomAccess.ReadAsync(old, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), from + done, ct).ConfigureAwait(false);
            if (n == 0) throw new CorruptDeltaException("the old archive ended early while applying a tardiff delta");
            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            done += n;
        }
    }

    private static async Task<long> ApplyZstdAsync(NativeView old, long from, long oldLength, BoundedReadStream frame, Stream output, long newLength, CancellationToken ct)
    {
        using var prefix = old.Slice(from, oldLength);
        try
        {
            await using var decoder = new ZstdDecoderStream(frame, new ZstdDecompressionOptions { WindowLogMax = MaxZstdWindowLog, MaxOutputBytes = newLength }, prefix, leaveOpen: true);
            await decoder.CopyToAsync(output, 1 << 16, ct).ConfigureAwait(false);
            return decoder.BytesProduced;
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"{What} has a member that cannot be decoded: {e.Message}", e);
        }
    }
}

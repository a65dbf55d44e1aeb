using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Doras.Delta.Algorithms;

namespace Doras.Delta.Octodiff;

/// <summary>
/// Octodiff deltas: COPY (offset and length in the old file) and DATA (literal bytes) commands after a header
/// carrying the new file's SHA1. The builder needs only the old file's signature; the applier reads the old file
/// with positioned reads (never whole into memory), refuses anything malformed, and checks the SHA1 at the end.
/// </summary>
public static class OctodiffDelta
{
    /// <summary>At most this many chunks are kept per rolling checksum (the first ones in file order).</summary>
    public const int MaxCandidatesPerRolling = 8;

    /// <summary>
    /// Strong-hash work allowed for rolling-checksum hits that turn out false, in bytes hashed per byte of the new
    /// file scanned (plus <see cref="FalseHitAllowance"/>). Each check is charged its window plus
    /// <see cref="HashCallCost"/>. A signature naming the rolling checksums of the new file's windows with wrong
    /// SHA1s would otherwise cost one SHA1 of a whole chunk (up to 31 KiB) per byte of the new file.
    /// </summary>
    public const int FalseHitBytesPerByte = 16;
    public const long FalseHitAllowance = 4 << 20;
    public const int HashCallCost = 512;
    private const int CancellationInterval = 1 << 16;

    /// <summary>
    /// Writes the delta that turns the file <paramref name="signature"/> describes into <paramref name="newFile"/>.
    /// The new file is read twice (its SHA1 goes first), so it must be seekable. The work is linear in the new
    /// file whatever the signature: at most <see cref="MaxCandidatesPerRolling"/> chunks are compared per position
    /// and strong hashes of false hits are rationed (a hostile signature can only make the delta bigger).
    /// <paramref name="ct"/> is checked every 64 KiB of the new file.
    /// </summary>
    /// <returns>The work done (<see cref="OctodiffBuildWork"/>), for logs and for tests of the bound.</returns>
    public static OctodiffBuildWork Write(OctodiffSignature signature, Stream newFile, Stream delta, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(signature);
        if (!newFile.CanSeek) throw new ArgumentException("the new file must be seekable", nameof(newFile));
        var start = newFile.Position;
        var newHash = HashRest(newFile, ct);
        newFile.Position = start;
        using var writer = new BinaryWriter(delta, Encoding.UTF8, leaveOpen: true);
        writer.Write(OctodiffFormat.DeltaMagic);
        writer.Write(OctodiffFormat.Version);
        writer.Write(OctodiffFormat.HashName);
        writer.Write(OctodiffFormat.HashLength);
        writer.Write(newHash);
        writer.Write(OctodiffFormat.EndOfHeader);
        var builder = new Builder(signature, writer, ct);
        builder.Run(newFile);
        writer.Flush();
        return builder.Work;
    }

    private static byte[] HashRest(Stream input, CancellationToken ct)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        var buffer = new byte[CancellationInterval];
        int n;
        while ((n = input.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            sha1.AppendData(buffer, 0, n);
        }
        return sha1.GetHashAndReset();
    }

    /// <summary>Scans the new file with a window of the chunk size, emitting copies for chunks found and data for the rest.</summary>
    private sealed class Builder
    {
        private readonly OctodiffSignature _signature;
        private readonly BinaryWriter _writer;
        private readonly CancellationToken _ct;
        private readonly RollingIndex _index;
        private readonly int _chunkSize;
        private readonly byte[] _hash = new byte[OctodiffFormat.HashLength];
        private long _copyOffset = -1, _copyLength;
        private long _falseHitBudget = FalseHitAllowance;
        private int _sinceCheck;
        private long _scanned, _hashed, _hashes, _compared;

        public OctodiffBuildWork Work => new(_scanned, _hashed, _hashes, _compared);

        public Builder(OctodiffSignature signature, BinaryWriter writer, CancellationToken ct)
        {
            (_signature, _writer, _ct) = (signature, writer, ct);
            // A single chunk shorter than Octodiff's minimum (a file of under 128 bytes) is only looked for at the end:
            // as a window it would make a copy command and a SHA1 out of every matching byte of the new file.
            _chunkSize = signature.ChunkCount == 0 ? OctodiffFormat.DefaultChunkSize : Math.Max(signature.ChunkSize, OctodiffFormat.MinChunkSize);
            _index = new RollingIndex(signature, _chunkSize, ct);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(Stream input)
        {
            var n = _chunkSize;
            var buffer = new byte[Math.Max(1 << 20, 4 * n)];
            int filled = 0, pos = 0, literalStart = 0;
            var eof = false;
            var rolling = default(RollingAdler32);
            var rollingValid = false;
            while (true)
            {
                if (pos + n > filled && !eof)
                {
                    _ct.ThrowIfCancellationRequested();
                    // Keep the window's bytes, drop what is decided: literals go out before the shift.
                    EmitData(buffer.AsSpan(literalStart, pos - literalStart));
                    Array.Copy(buffer, pos, buffer, 0, filled - pos);
                    filled -= pos;
                    pos = literalStart = 0;
                    var read = input.ReadAtLeast(buffer.AsSpan(filled), buffer.Length - filled, throwOnEndOfStream: false);
                    filled += read;
                    eof = filled < buffer.Length;
                    continue;
                }
                if (pos + n > filled)
                {
                    // The tail, shorter than a window: it may still end with the old file's last (short) chunk, the
                    // only chunk of another length.
                    if (FindLast(buffer.AsSpan(pos, filled - pos)) is { } last)
                    {
                        var length = _signature.LengthOf(last);
                        EmitData(buffer.AsSpan(literalStart, filled - length - literalStart));
                        AddCopy(_signature.OffsetOf(last), length);
                        literalStart = filled;
                    }
                    EmitData(buffer.AsSpan(literalStart, filled - literalStart));
                    FlushCopy();
                    return;
                }
                var window = buffer.AsSpan(pos, n);
                if (!rollingValid) { rolling = RollingAdler32.Of(window); rollingValid = true; }
                if (Find(window, rolling.Value) is { } match)
                {
                    EmitData(buffer.AsSpan(literalStart, pos - literalStart));
                    AddCopy(_signature.OffsetOf(match), n);
                    pos += n;
                    literalStart = pos;
                    rollingValid = false;
                    Scanned(n);
                    continue;
                }
                if (pos + n < filled) rolling.Roll(buffer[pos], buffer[pos + n], n);
                else rollingValid = false; // the next byte is not read yet: recompute after the refill
                pos++;
                Scanned(1);
            }
        }

        /// <summary>Accounts for bytes of the new file passed: they earn strong-hash budget, and every 64 KiB the token is checked.</summary>
        private void Scanned(int bytes)
        {
            _falseHitBudget += (long)FalseHitBytesPerByte * bytes;
            _scanned += bytes;
            _sinceCheck += bytes;
            if (_sinceCheck < CancellationInterval) return;
            _sinceCheck = 0;
            _ct.ThrowIfCancellationRequested();
        }

        /// <summary>
        /// The first of (at most <see cref="MaxCandidatesPerRolling"/>) full chunks with this rolling checksum whose SHA1
        /// is the window's, or null. The window is hashed once, and only if the budget could pay for a false hit.
        /// </summary>
        private int? Find(ReadOnlySpan<byte> window, uint rolling)
        {
            var candidate = _index.First(rolling);
            if (candidate < 0) return null;
            var cost = window.Length + HashCallCost;
            if (_falseHitBudget < cost) return null;
            SHA1.HashData(window, _hash);
            _hashed += window.Length;
            _hashes++;
            for (; candidate >= 0; candidate = _index.Next(candidate))
            {
                _compared++;
                if (_signature.HashOf(candidate).SequenceEqual(_hash)) return candidate;
            }
            _falseHitBudget -= cost;
            return null;
        }

        /// <summary>The old file's last chunk if <paramref name="tail"/> ends with it (one SHA1 at most), or null.</summary>
        private int? FindLast(ReadOnlySpan<byte> tail)
        {
            if (_signature.ChunkCount == 0) return null;
            var last = _signature.ChunkCount - 1;
            var length = _signature.LengthOf(last);
            if (length > tail.Length) return null;
            var suffix = tail[^length..];
            if (_signature.RollingOf(last) != RollingAdler32.Of(suffix).Value) return null;
            SHA1.HashData(suffix, _hash);
            _hashed += suffix.Length;
            _hashes++;
            _compared++;
            return _signature.HashOf(last).SequenceEqual(_hash) ? last : null;
        }

        private void AddCopy(long offset, long length)
        {
            if (_copyOffset >= 0 && _copyOffset + _copyLength == offset) { _copyLength += length; return; }
            FlushCopy();
            (_copyOffset, _copyLength) = (offset, length);
        }

        private void FlushCopy()
        {
            if (_copyOffset < 0) return;
            _writer.Write(OctodiffFormat.CopyCommand);
            _writer.Write(_copyOffset);
            _writer.Write(_copyLength);
            _copyOffset = -1;
        }

        private void EmitData(ReadOnlySpan<byte> literal)
        {
            if (literal.IsEmpty) return;
            FlushCopy();
            _writer.Write(OctodiffFormat.DataCommand);
            _writer.Write((long)literal.Length);
            _writer.Write(literal);
        }
    }

    /// <summary>
    /// Full-size chunks by rolling checksum: for each value a list (in file order) of at most
    /// <see cref="MaxCandidatesPerRolling"/> chunks, chained through an array. An open-addressing table (load at
    /// most 2/3) whose hash is keyed with random bits per index, so a signature cannot pile its checksums into one
    /// probe sequence either.
    /// </summary>
    private sealed class RollingIndex
    {
        private readonly uint[] _keys;
        private readonly int[] _first; // chunk + 1; 0 marks an empty slot
        private readonly int[] _next;  // chunk + 1 of the next candidate with the same checksum; 0 ends the list
        private readonly ulong _seed, _multiplier;
        private readonly int _shift, _mask;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public RollingIndex(OctodiffSignature signature, int chunkSize, CancellationToken ct)
        {
            var count = signature.ChunkCount;
            var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, count + count / 2 + 1));
            (_mask, _shift) = (capacity - 1, 64 - BitOperations.Log2((uint)capacity));
            Span<ulong> random = stackalloc ulong[2];
            RandomNumberGenerator.Fill(MemoryMarshal.AsBytes(random));
            (_seed, _multiplier) = (random[0], random[1] | 1);
            _keys = new uint[capacity];
            _first = new int[capacity];
            _next = new int[count];
            var last = new int[capacity];
            var candidates = new byte[capacity];
            for (var i = 0; i < count; i++)
            {
                if ((i & 0xFFFF) == 0) ct.ThrowIfCancellationRequested();
                if (signature.LengthOf(i) != chunkSize) continue; // the short last chunk: only the tail can be it
                var key = signature.RollingOf(i);
                var slot = Slot(key);
                while (_first[slot] != 0 && _keys[slot] != key) slot = (slot + 1) & _mask;
                if (_first[slot] == 0)
                {
                    (_keys[slot], _first[slot], last[slot], candidates[slot]) = (key, i + 1, i + 1, 1);
                }
                else if (candidates[slot] < MaxCandidatesPerRolling)
                {
                    _next[last[slot] - 1] = i + 1;
                    last[slot] = i + 1;
                    candidates[slot]++;
                }
            }
        }

        private int Slot(uint key)
        {
            var h = (key ^ _seed) * _multiplier;
            h ^= h >> 31;
            return (int)((h * 0xbf58476d1ce4e5b9UL) >> _shift);
        }

        /// <summary>The first chunk with this rolling checksum, or -1.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int First(uint rolling)
        {
            for (var slot = Slot(rolling); ; slot = (slot + 1) & _mask)
            {
                var first = _first[slot];
                if (first == 0) return -1;
                if (_keys[slot] == rolling) return first - 1;
            }
        }

        /// <summary>The next chunk with the same rolling checksum as <paramref name="chunk"/>, or -1.</summary>
        public int Next(int chunk) => _next[chunk] - 1;
    }

    /// <summary>
    /// Applies a delta to the old file, writing the new file to <paramref name="output"/>. Throws
    /// <see cref="CorruptDeltaException"/> for anything malformed: a bad header, an unknown command, a copy outside
    /// the old file, a truncated delta, more output than <paramref name="maxOutputBytes"/>, or a SHA1 mismatch.
    /// </summary>
    public static async Task<long> ApplyAsync(string oldPath, Stream delta, Stream output, long maxOutputBytes = long.MaxValue, CancellationToken ct = default)
    {
        using var old = File.OpenHandle(oldPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        var oldSize = RandomAccess.GetLength(old);
        var input = new BufferedStream(delta, 1 << 16);
        var expectedHash = ReadDeltaHeader(input);
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        var buffer = new byte[1 << 17];
        var command = new byte[16];
        long written = 0;
        try
        {
            int kind;
            while ((kind = input.ReadByte()) >= 0)
            {
                ct.ThrowIfCancellationRequested();
                switch (kind)
                {
                    case OctodiffFormat.CopyCommand:
                    {
                        input.ReadExactly(command, 0, 16);
                        var offset = BinaryPrimitives.ReadInt64LittleEndian(command);
                        var length = BinaryPrimitives.ReadInt64LittleEndian(command.AsSpan(8));
                        if (offset < 0 || length < 0 || offset > oldSize || length > oldSize - offset)
                            throw new CorruptDeltaException($"Octodiff delta copies {length} bytes at {offset}, outside the old file of {oldSize} bytes");
                        CheckLimit(written, length, maxOutputBytes);
                        for (long done = 0; done < length;)
                        {
                            var n = await RandomAccess.ReadAsync(old, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), offset + done, ct).ConfigureAwait(false);
                            if (n == 0) throw new CorruptDeltaException("the old file ended early while applying an Octodiff delta");
                            await WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                            done += n;
                        }
                        break;
                    }
                    case OctodiffFormat.DataCommand:
                    {
                        input.ReadExactly(command, 0, 8);
                        var length = BinaryPrimitives.ReadInt64LittleEndian(command);
                        if (length < 0) throw new CorruptDeltaException($"Octodiff delta has a data command of length {length}");
                        CheckLimit(written, length, maxOutputBytes);
                        for (long done = 0; done < length;)
                        {
                            var n = await input.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), ct).ConfigureAwait(false);
                            if (n == 0) throw new EndOfStreamException();
                            await WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                            done += n;
                        }
                        break;
                    }
                    default:
                        throw new CorruptDeltaException($"Octodiff delta has an unknown command byte 0x{kind:x2}");
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new CorruptDeltaException("Octodiff delta is truncated inside a command", e);
        }
        var actual = sha1.GetHashAndReset();
        if (!actual.AsSpan().SequenceEqual(expectedHash))
            throw new CorruptDeltaException($"applying the Octodiff delta gave SHA1 {Convert.ToHexStringLower(actual)}, not the {Convert.ToHexStringLower(expectedHash)} it promises (wrong old file or corrupt delta)");
        return written;

        async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            sha1.AppendData(bytes.Span);
            await output.WriteAsync(bytes, ct).ConfigureAwait(false);
            written += bytes.Length;
        }
    }

    private static void CheckLimit(long written, long adding, long max)
    {
        if (adding > max - written) throw new CorruptDeltaException($"Octodiff delta produces more than the limit of {max} bytes");
    }

    private static byte[] ReadDeltaHeader(Stream input)
    {
        using var reader = new BinaryReader(input, Encoding.UTF8, leaveOpen: true);
        try
        {
            OctodiffFormat.Expect(reader, OctodiffFormat.DeltaMagic, "delta");
            var version = reader.ReadByte();
            if (version != OctodiffFormat.Version) throw new CorruptDeltaException($"Octodiff delta version {version} is not supported");
            var hashName = reader.ReadString();
            var hashLength = reader.ReadInt32();
            if (hashName != OctodiffFormat.HashName || hashLength != OctodiffFormat.HashLength)
                throw new CorruptDeltaException($"Octodiff delta uses hash '{hashName}' of {hashLength} bytes; only {OctodiffFormat.HashName} of {OctodiffFormat.HashLength} is supported");
            var hash = reader.ReadBytes(hashLength);
            if (hash.Length != hashLength) throw new EndOfStreamException();
            OctodiffFormat.Expect(reader, OctodiffFormat.EndOfHeader, "delta header end");
            return hash;
        }
        catch (EndOfStreamException e)
        {
            throw new CorruptDeltaException("Octodiff delta is truncated inside its header", e);
        }
        catch (InvalidDataException e)
        {
            throw new CorruptDeltaException(e.Message, e);
        }
    }
}

/// <summary>
/// What building an Octodiff delta cost: bytes of the new file scanned, bytes given to SHA1 and SHA1s computed (true
/// and false hits of the rolling checksum), and signature chunks compared. The rationing bounds them by the bytes
/// scanned, whatever the signature: hashed at most <see cref="OctodiffDelta.FalseHitAllowance"/> plus
/// <see cref="OctodiffDelta.FalseHitBytesPerByte"/> + 1 bytes per byte scanned (the one for true hits, which move the
/// window past what they hashed) plus a last chunk; false hits each charged <see cref="OctodiffDelta.HashCallCost"/>
/// more; at most <see cref="OctodiffDelta.MaxCandidatesPerRolling"/> chunks compared per SHA1.
/// </summary>
public readonly record struct OctodiffBuildWork(long BytesScanned, long BytesHashed, long Hashes, long ChunksCompared);

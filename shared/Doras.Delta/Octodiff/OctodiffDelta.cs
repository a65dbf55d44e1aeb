using System.Buffers.Binary;
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
    /// <summary>
    /// Writes the delta that turns the file <paramref name="signature"/> describes into <paramref name="newFile"/>.
    /// The new file is read twice (its SHA1 goes first), so it must be seekable.
    /// </summary>
    public static void Write(OctodiffSignature signature, Stream newFile, Stream delta)
    {
        if (!newFile.CanSeek) throw new ArgumentException("the new file must be seekable", nameof(newFile));
        var start = newFile.Position;
        var newHash = SHA1.HashData(newFile);
        newFile.Position = start;
        using var writer = new BinaryWriter(delta, Encoding.UTF8, leaveOpen: true);
        writer.Write(OctodiffFormat.DeltaMagic);
        writer.Write(OctodiffFormat.Version);
        writer.Write(OctodiffFormat.HashName);
        writer.Write(OctodiffFormat.HashLength);
        writer.Write(newHash);
        writer.Write(OctodiffFormat.EndOfHeader);
        new Builder(signature, writer).Run(newFile);
        writer.Flush();
    }

    /// <summary>Scans the new file with a window of the chunk size, emitting copies for chunks found and data for the rest.</summary>
    private sealed class Builder(OctodiffSignature signature, BinaryWriter writer)
    {
        private readonly Dictionary<uint, List<SignatureChunk>> _byRolling = Index(signature);
        private readonly int _chunkSize = signature.Chunks.Count == 0 ? OctodiffFormat.DefaultChunkSize : signature.Chunks[0].Length;
        private long _copyOffset = -1, _copyLength;
        private readonly byte[] _hash = new byte[OctodiffFormat.HashLength];

        private static Dictionary<uint, List<SignatureChunk>> Index(OctodiffSignature signature)
        {
            var index = new Dictionary<uint, List<SignatureChunk>>();
            foreach (var chunk in signature.Chunks)
            {
                if (!index.TryGetValue(chunk.Rolling, out var list)) index[chunk.Rolling] = list = [];
                list.Add(chunk);
            }
            return index;
        }

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
                    // The tail, shorter than a chunk: it may still be the old file's last (short) chunk.
                    var tail = buffer.AsSpan(pos, filled - pos);
                    if (tail.Length > 0 && Find(tail, RollingAdler32.Of(tail).Value) is { } last)
                    {
                        EmitData(buffer.AsSpan(literalStart, pos - literalStart));
                        AddCopy(last.Offset, last.Length);
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
                    AddCopy(match.Offset, match.Length);
                    pos += n;
                    literalStart = pos;
                    rollingValid = false;
                    continue;
                }
                if (pos + n < filled) rolling.Roll(buffer[pos], buffer[pos + n], n);
                else rollingValid = false; // the next byte is not read yet: recompute after the refill
                pos++;
            }
        }

        private SignatureChunk? Find(ReadOnlySpan<byte> window, uint rolling)
        {
            if (!_byRolling.TryGetValue(rolling, out var candidates)) return null;
            var hashed = false;
            foreach (var chunk in candidates)
            {
                if (chunk.Length != window.Length) continue;
                if (!hashed) { SHA1.HashData(window, _hash); hashed = true; }
                if (chunk.Sha1.Span.SequenceEqual(_hash)) return chunk;
            }
            return null;
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
            writer.Write(OctodiffFormat.CopyCommand);
            writer.Write(_copyOffset);
            writer.Write(_copyLength);
            _copyOffset = -1;
        }

        private void EmitData(ReadOnlySpan<byte> literal)
        {
            if (literal.IsEmpty) return;
            FlushCopy();
            writer.Write(OctodiffFormat.DataCommand);
            writer.Write((long)literal.Length);
            writer.Write(literal);
        }
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

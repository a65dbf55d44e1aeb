using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Doras.Delta.Octodiff;

/// <summary>One chunk of the old file: where it is, its rolling checksum and its SHA1.</summary>
public readonly record struct SignatureChunk(long Offset, int Length, uint Rolling, ReadOnlyMemory<byte> Sha1);

/// <summary>
/// An Octodiff signature: the rolling checksum and SHA1 of each fixed-size chunk of a file (26 bytes per chunk,
/// about 1.3 % of the file at the default 2 KiB chunks). Whoever has a signature can build a delta against the
/// file without having the file. <see cref="Read"/> accepts only what Octodiff writes: chunks of one size within
/// Octodiff's range, only the last one shorter, so a signature sent by a stranger cannot steer the matcher.
/// </summary>
public sealed class OctodiffSignature
{
    public const int DefaultChunkSize = OctodiffFormat.DefaultChunkSize;
    /// <summary>Octodiff's smallest chunk size (every chunk but the last is exactly the chunk size).</summary>
    public const int MinChunkSize = OctodiffFormat.MinChunkSize;
    /// <summary>Octodiff's largest chunk size.</summary>
    public const int MaxChunkSize = OctodiffFormat.MaxChunkSize;
    /// <summary>The default limit of <see cref="Read"/> on the number of chunks.</summary>
    public const long DefaultMaxChunks = 1L << 26;

    private const int HashLength = OctodiffFormat.HashLength;
    private const int RecordLength = OctodiffFormat.SignatureRecordLength;
    private const int MaxNameLength = 64;

    private readonly uint[] _rolling;
    private readonly byte[] _hashes;

    private OctodiffSignature(int count, int chunkSize, int lastLength, uint[] rolling, byte[] hashes)
    {
        (ChunkCount, ChunkSize, LastChunkLength, _rolling, _hashes) = (count, chunkSize, lastLength, rolling, hashes);
        Chunks = new ChunkList(this);
    }

    /// <summary>The chunks in file order (made on access from compact arrays).</summary>
    public IReadOnlyList<SignatureChunk> Chunks { get; }

    /// <summary>How many chunks the signature has (a signature of an empty file has none).</summary>
    public int ChunkCount { get; }

    /// <summary>The size of every chunk but the last (the only chunk's length if there is one; 0 if there is none).</summary>
    public int ChunkSize { get; }

    /// <summary>The length of the last chunk, from 1 to <see cref="ChunkSize"/> (0 if there are no chunks).</summary>
    public int LastChunkLength { get; }

    /// <summary>The size of the file the signature describes: (chunks - 1) × chunk size + the last chunk's length.</summary>
    public long FileSize => ChunkCount == 0 ? 0 : (long)(ChunkCount - 1) * ChunkSize + LastChunkLength;

    internal uint RollingOf(int chunk) => _rolling[chunk];

    internal ReadOnlySpan<byte> HashOf(int chunk) => _hashes.AsSpan(chunk * HashLength, HashLength);

    internal int LengthOf(int chunk) => chunk == ChunkCount - 1 ? LastChunkLength : ChunkSize;

    internal long OffsetOf(int chunk) => (long)chunk * ChunkSize;

    /// <summary>Writes the signature of <paramref name="file"/> (read once, front to back) in Octodiff's format.</summary>
    public static async Task WriteAsync(Stream file, Stream signature, int chunkSize = OctodiffFormat.DefaultChunkSize, CancellationToken ct = default)
    {
        if (chunkSize is < OctodiffFormat.MinChunkSize or > OctodiffFormat.MaxChunkSize)
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, $"chunk size must be {OctodiffFormat.MinChunkSize}..{OctodiffFormat.MaxChunkSize}");
        await signature.WriteAsync(Header(), ct).ConfigureAwait(false);
        var chunk = new byte[chunkSize];
        var record = new byte[OctodiffFormat.SignatureRecordLength];
        int n;
        while ((n = await file.ReadAtLeastAsync(chunk, chunkSize, throwOnEndOfStream: false, ct).ConfigureAwait(false)) > 0)
        {
            var data = chunk.AsSpan(0, n);
            BinaryPrimitives.WriteInt16LittleEndian(record, (short)n);
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(2), RollingAdler32.Of(data).Value);
            SHA1.HashData(data, record.AsSpan(6));
            await signature.WriteAsync(record, ct).ConfigureAwait(false);
        }
    }

    private static byte[] Header()
    {
        var header = new MemoryStream();
        using (var writer = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(OctodiffFormat.SignatureMagic);
            writer.Write(OctodiffFormat.Version);
            writer.Write(OctodiffFormat.HashName);
            writer.Write(OctodiffFormat.RollingName);
            writer.Write(OctodiffFormat.EndOfHeader);
        }
        return header.ToArray();
    }

    /// <summary>
    /// Reads a signature in Octodiff's format; <see cref="InvalidDataException"/> if it is not one Octodiff could
    /// have written: a bad or truncated header, chunk records that are not a whole number of 26 bytes, more than
    /// <paramref name="maxChunks"/> chunks, an empty chunk, a chunk size outside Octodiff's range
    /// (<see cref="MinChunkSize"/>..<see cref="MaxChunkSize"/>), or chunks of mixed sizes (only the last may be
    /// shorter). Memory grows with the bytes actually read (at most 24 bytes per chunk), never with a claim.
    /// </summary>
    public static OctodiffSignature Read(Stream signature, long maxChunks = DefaultMaxChunks)
    {
        ArgumentNullException.ThrowIfNull(signature);
        ArgumentOutOfRangeException.ThrowIfNegative(maxChunks);
        maxChunks = Math.Min(maxChunks, Array.MaxLength / HashLength);
        using var reader = new BinaryReader(signature, Encoding.UTF8, leaveOpen: true);
        try
        {
            OctodiffFormat.Expect(reader, OctodiffFormat.SignatureMagic, "signature");
            var version = reader.ReadByte();
            if (version != OctodiffFormat.Version) throw new InvalidDataException($"Octodiff signature version {version} is not supported");
            var hash = ReadName(reader, "hash algorithm");
            if (hash != OctodiffFormat.HashName) throw new InvalidDataException($"Octodiff signature uses hash '{hash}'; only {OctodiffFormat.HashName} is supported");
            var rolling = ReadName(reader, "rolling checksum");
            if (rolling != OctodiffFormat.RollingName)
                throw new InvalidDataException($"Octodiff signature uses rolling checksum '{rolling}'; only {OctodiffFormat.RollingName} is supported (Adler32V2 is broken in Octodiff itself)");
            OctodiffFormat.Expect(reader, OctodiffFormat.EndOfHeader, "signature header end");
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("Octodiff signature is truncated inside its header", e);
        }
        return ReadChunks(signature, maxChunks);
    }

    /// <summary>A header string (a 7-bit length, then UTF-8), refused before reading if it is longer than any name we know.</summary>
    private static string ReadName(BinaryReader reader, string what)
    {
        int length;
        try { length = reader.Read7BitEncodedInt(); }
        catch (FormatException e) { throw new InvalidDataException($"Octodiff signature's {what} name has a malformed length", e); }
        if (length is < 0 or > MaxNameLength) throw new InvalidDataException($"Octodiff signature's {what} name is {length} bytes long, over the {MaxNameLength} any known name needs");
        var bytes = reader.ReadBytes(length);
        if (bytes.Length != length) throw new EndOfStreamException();
        return Encoding.UTF8.GetString(bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static OctodiffSignature ReadChunks(Stream signature, long maxChunks)
    {
        var capacity = 1024L;
        if (signature.CanSeek)
        {
            // What is left is known: refuse a partial record or too many chunks before allocating for them.
            var remaining = signature.Length - signature.Position;
            if (remaining % RecordLength != 0) throw PartialRecord(remaining % RecordLength);
            if (remaining / RecordLength > maxChunks) throw TooManyChunks(maxChunks);
            capacity = remaining / RecordLength;
        }
        capacity = Math.Min(capacity, maxChunks);
        var rollings = new uint[capacity];
        var hashes = new byte[capacity * HashLength];
        int count = 0, chunkSize = 0, lastLength = 0;
        var block = new byte[RecordLength * 2048];
        while (true)
        {
            var got = signature.ReadAtLeast(block, block.Length, throwOnEndOfStream: false);
            var records = got / RecordLength;
            for (var r = 0; r < records; r++)
            {
                var record = block.AsSpan(r * RecordLength, RecordLength);
                var length = (int)BinaryPrimitives.ReadInt16LittleEndian(record);
                if (count >= maxChunks) throw TooManyChunks(maxChunks);
                if (length <= 0) throw new InvalidDataException($"Octodiff signature chunk {count} has length {length}; chunk lengths must be positive");
                if (count == 0)
                {
                    if (length > MaxChunkSize) throw ChunkSizeOutOfRange(length);
                    chunkSize = length;
                }
                else
                {
                    // The chunk before this one was not the last, so it is a full chunk: the chunk size is now known.
                    if (count == 1 && chunkSize < MinChunkSize) throw ChunkSizeOutOfRange(chunkSize);
                    if (lastLength != chunkSize) throw MixedSizes(count - 1, lastLength, chunkSize);
                    if (length > chunkSize) throw MixedSizes(count, length, chunkSize);
                }
                if (count == rollings.Length)
                {
                    var grown = (int)Math.Min(Math.Max(2L * count, 1024), maxChunks);
                    Array.Resize(ref rollings, grown);
                    Array.Resize(ref hashes, grown * HashLength);
                }
                rollings[count] = BinaryPrimitives.ReadUInt32LittleEndian(record[2..]);
                record[6..].CopyTo(hashes.AsSpan(count * HashLength));
                lastLength = length;
                count++;
            }
            if (got < block.Length)
            {
                if (got % RecordLength != 0) throw PartialRecord(got % RecordLength);
                break;
            }
        }
        if (count < rollings.Length)
        {
            Array.Resize(ref rollings, count);
            Array.Resize(ref hashes, count * HashLength);
        }
        return new OctodiffSignature(count, chunkSize, lastLength, rollings, hashes);
    }

    private static InvalidDataException PartialRecord(long extra) =>
        new($"Octodiff signature is truncated: its chunk records are not a multiple of 26 bytes ({extra} bytes after the last whole record)");

    private static InvalidDataException TooManyChunks(long maxChunks) => new($"Octodiff signature has more than {maxChunks} chunks");

    private static InvalidDataException ChunkSizeOutOfRange(int size) =>
        new($"Octodiff signature has chunk size {size}; Octodiff's chunk size is {MinChunkSize} to {MaxChunkSize} bytes");

    private static InvalidDataException MixedSizes(int chunk, int length, int chunkSize) =>
        new($"Octodiff signature mixes chunk sizes: chunk {chunk} has length {length} but the chunk size is {chunkSize}; only the last chunk may be shorter");

    /// <summary>The chunks as records, made on access (the signature keeps 24 bytes per chunk, not an object each).</summary>
    private sealed class ChunkList(OctodiffSignature signature) : IReadOnlyList<SignatureChunk>
    {
        public int Count => signature.ChunkCount;

        public SignatureChunk this[int index]
        {
            get
            {
                ArgumentOutOfRangeException.ThrowIfNegative(index);
                ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
                return new SignatureChunk(signature.OffsetOf(index), signature.LengthOf(index), signature._rolling[index],
                    signature._hashes.AsMemory(index * HashLength, HashLength));
            }
        }

        public IEnumerator<SignatureChunk> GetEnumerator()
        {
            for (var i = 0; i < Count; i++) yield return this[i];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Doras.Delta.Octodiff;

/// <summary>One chunk of the old file: where it is, its rolling checksum and its SHA1.</summary>
public readonly record struct SignatureChunk(long Offset, int Length, uint Rolling, ReadOnlyMemory<byte> Sha1);

/// <summary>
/// An Octodiff signature: the rolling checksum and SHA1 of each fixed-size chunk of a file (26 bytes per chunk,
/// about 1.3 % of the file at the default 2 KiB chunks). Whoever has a signature can build a delta against the
/// file without having the file.
/// </summary>
public sealed class OctodiffSignature
{
    public const int DefaultChunkSize = OctodiffFormat.DefaultChunkSize;

    private OctodiffSignature(IReadOnlyList<SignatureChunk> chunks) => Chunks = chunks;

    public IReadOnlyList<SignatureChunk> Chunks { get; }

    /// <summary>The size of the file the signature describes.</summary>
    public long FileSize => Chunks.Count == 0 ? 0 : Chunks[^1].Offset + Chunks[^1].Length;

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

    /// <summary>Reads a signature in Octodiff's format; <see cref="InvalidDataException"/> if it is not one we can use.</summary>
    public static OctodiffSignature Read(Stream signature, long maxChunks = 1L << 26)
    {
        using var reader = new BinaryReader(signature, Encoding.UTF8, leaveOpen: true);
        try
        {
            OctodiffFormat.Expect(reader, OctodiffFormat.SignatureMagic, "signature");
            var version = reader.ReadByte();
            if (version != OctodiffFormat.Version) throw new InvalidDataException($"Octodiff signature version {version} is not supported");
            var hash = reader.ReadString();
            if (hash != OctodiffFormat.HashName) throw new InvalidDataException($"Octodiff signature uses hash '{hash}'; only {OctodiffFormat.HashName} is supported");
            var rolling = reader.ReadString();
            if (rolling != OctodiffFormat.RollingName)
                throw new InvalidDataException($"Octodiff signature uses rolling checksum '{rolling}'; only {OctodiffFormat.RollingName} is supported (Adler32V2 is broken in Octodiff itself)");
            OctodiffFormat.Expect(reader, OctodiffFormat.EndOfHeader, "signature header end");

            var chunks = new List<SignatureChunk>();
            var record = new byte[OctodiffFormat.SignatureRecordLength];
            long offset = 0;
            int got;
            while ((got = signature.ReadAtLeast(record, record.Length, throwOnEndOfStream: false)) > 0)
            {
                if (got != record.Length) throw new InvalidDataException("Octodiff signature is truncated: its chunk records are not a multiple of 26 bytes");
                var length = BinaryPrimitives.ReadInt16LittleEndian(record);
                if (length <= 0) throw new InvalidDataException($"Octodiff signature has a chunk of length {length}");
                if (chunks.Count >= maxChunks) throw new InvalidDataException($"Octodiff signature has more than {maxChunks} chunks");
                chunks.Add(new SignatureChunk(offset, length, BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(2)), record.AsSpan(6).ToArray()));
                offset += length;
            }
            return new OctodiffSignature(chunks);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("Octodiff signature is truncated inside its header", e);
        }
    }
}

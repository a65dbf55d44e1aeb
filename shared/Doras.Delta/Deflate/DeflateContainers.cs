using System.Buffers.Binary;
using Doras.Delta.Artifacts;

namespace Doras.Delta.Deflate;

/// <summary>Where a raw deflate stream lies inside a container file.</summary>
public readonly record struct DeflateRegion(long Offset, long Length);

/// <summary>A file format made of verbatim bytes and raw deflate streams: gzip (one stream) or zip (one per entry).</summary>
public interface IDeflateContainer
{
    string Name { get; }

    /// <summary>The deflate streams, in file order, or null when the file is not of this format.</summary>
    IReadOnlyList<DeflateRegion>? FindRegions(string path);
}

/// <summary>Single-member gzip (RFC 1952): header, one deflate stream, then CRC-32 and size.</summary>
public sealed class GzipContainer : IDeflateContainer
{
    public string Name => "gzip";

    public IReadOnlyList<DeflateRegion>? FindRegions(string path)
    {
        using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        if (input.Length < 18 || input.ReadByte() != 0x1f || input.ReadByte() != 0x8b || input.ReadByte() != 8) return null;
        var flags = input.ReadByte();
        if ((flags & 0xE0) != 0) throw new IncompatibleArtifactException("the gzip header has reserved flags set");
        input.Position = 10;
        if ((flags & 4) != 0) input.Position += input.ReadByte() | input.ReadByte() << 8; // FEXTRA
        if ((flags & 8) != 0) SkipZeroTerminated(input); // FNAME
        if ((flags & 16) != 0) SkipZeroTerminated(input); // FCOMMENT
        if ((flags & 2) != 0) input.Position += 2; // FHCRC
        var start = input.Position;
        // The stream must end exactly before the 8-byte trailer; expanding checks that it does (one member only).
        return start + 8 <= input.Length ? [new DeflateRegion(start, input.Length - 8 - start)] : throw new IncompatibleArtifactException("the gzip file is truncated");
    }

    private static void SkipZeroTerminated(Stream input)
    {
        for (int b; (b = input.ReadByte()) != 0;)
            if (b < 0) throw new IncompatibleArtifactException("the gzip file ends inside its header");
    }
}

/// <summary>Zip (and .jar, .nupkg, .whl, .apk): the entries compressed with deflate, found through the central directory.</summary>
public sealed class ZipContainer : IDeflateContainer
{
    public string Name => "zip";

    public IReadOnlyList<DeflateRegion>? FindRegions(string path)
    {
        using var file = File.OpenHandle(path);
        var length = RandomAccess.GetLength(file);
        if (length < 22) return null;
        // The end-of-central-directory record is in the last 64 KiB + 22 bytes (a comment may follow it).
        var tail = new byte[(int)Math.Min(length, 65_557)];
        RandomAccess.Read(file, tail, length - tail.Length);
        var eocd = -1;
        for (var i = tail.Length - 22; i >= 0 && eocd < 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == 0x06054b50 && i + 22 + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == tail.Length)
                eocd = i;
        if (eocd < 0) return null;
        var record = tail.AsSpan(eocd);
        var entries = BinaryPrimitives.ReadUInt16LittleEndian(record[10..]);
        var directorySize = BinaryPrimitives.ReadUInt32LittleEndian(record[12..]);
        var directoryOffset = BinaryPrimitives.ReadUInt32LittleEndian(record[16..]);
        if (entries == 0xFFFF || directorySize == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF)
            throw new IncompatibleArtifactException("zip64 archives are not handled");
        if (BinaryPrimitives.ReadUInt16LittleEndian(record[4..]) != 0 || directoryOffset + (long)directorySize > length)
            throw new IncompatibleArtifactException("the zip archive spans several disks or its central directory is out of place");

        var directory = new byte[directorySize];
        RandomAccess.Read(file, directory, directoryOffset);
        var regions = new List<DeflateRegion>();
        var localHeader = new byte[30];
        var position = 0;
        for (var i = 0; i < entries; i++)
        {
            if (position + 46 > directory.Length || BinaryPrimitives.ReadUInt32LittleEndian(directory.AsSpan(position)) != 0x02014b50)
                throw new IncompatibleArtifactException("the zip archive's central directory is malformed");
            var entry = directory.AsSpan(position);
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(entry[8..]);
            var method = BinaryPrimitives.ReadUInt16LittleEndian(entry[10..]);
            var compressedSize = BinaryPrimitives.ReadUInt32LittleEndian(entry[20..]);
            var localOffset = BinaryPrimitives.ReadUInt32LittleEndian(entry[42..]);
            position += 46 + BinaryPrimitives.ReadUInt16LittleEndian(entry[28..]) + BinaryPrimitives.ReadUInt16LittleEndian(entry[30..]) + BinaryPrimitives.ReadUInt16LittleEndian(entry[32..]);
            if (method != 8 || compressedSize == 0 || (flags & 1) != 0) continue; // stored, empty or encrypted: left as they are
            if (compressedSize == 0xFFFFFFFF || localOffset == 0xFFFFFFFF) throw new IncompatibleArtifactException("zip64 entries are not handled");
            if (RandomAccess.Read(file, localHeader, localOffset) != 30 || BinaryPrimitives.ReadUInt32LittleEndian(localHeader) != 0x04034b50)
                throw new IncompatibleArtifactException("a zip entry's local header is missing");
            var dataStart = localOffset + 30L + BinaryPrimitives.ReadUInt16LittleEndian(localHeader.AsSpan(26)) + BinaryPrimitives.ReadUInt16LittleEndian(localHeader.AsSpan(28));
            regions.Add(new DeflateRegion(dataStart, compressedSize));
        }
        regions.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        for (var i = 0; i < regions.Count; i++)
            if (regions[i].Offset + regions[i].Length > (i + 1 < regions.Count ? regions[i + 1].Offset : directoryOffset))
                throw new IncompatibleArtifactException("zip entries overlap");
        return regions;
    }
}

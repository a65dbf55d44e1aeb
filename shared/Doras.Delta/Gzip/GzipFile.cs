using System.Buffers.Binary;
using Doras.Delta.Artifacts;

namespace Doras.Delta.Gzip;

/// <summary>The deflate settings a gzip file was made with (zlib's deflateInit2 parameters).</summary>
public sealed record GzipSettings(int Level, int MemLevel = 8, int WindowBits = 15, int Strategy = 0);

/// <summary>Where the parts of a single-member gzip file lie: its header, its deflate stream, its trailer.</summary>
public sealed record GzipLayout(byte[] Header, long DeflateLength, uint Crc32, uint InputSize);

/// <summary>
/// Single-member gzip files (RFC 1952) taken apart and put back together: decompressed to their content, the
/// deflate settings that reproduce them byte for byte found by trying zlib's, and recompressed with them.
/// Files made by another deflate implementation (e.g. zopfli, pigz, zlib-ng) usually cannot be reproduced;
/// <see cref="DetectSettings"/> then says so, and the caller sends the file itself.
/// </summary>
public static class GzipFile
{
    private const int MaxHeader = 64 << 10;

    /// <summary>What zlib's command-line users pick most: the default level first, then the others.</summary>
    private static readonly GzipSettings[] Candidates =
        [.. new[] { 6, 9, 1, 2, 3, 4, 5, 7, 8 }.Select(level => new GzipSettings(level)), new GzipSettings(9, MemLevel: 9), new GzipSettings(6, MemLevel: 9)];

    public static bool IsGzip(string path)
    {
        Span<byte> magic = stackalloc byte[3];
        using var file = File.OpenHandle(path);
        return RandomAccess.Read(file, magic, 0) == 3 && magic[0] == 0x1f && magic[1] == 0x8b && magic[2] == 8;
    }

    /// <summary>
    /// Decompresses <paramref name="gzipPath"/> into a new file at <paramref name="contentPath"/>. Throws
    /// <see cref="IncompatibleArtifactException"/> for what is not exactly one gzip member (several members,
    /// trailing bytes, a bad CRC), and <see cref="InvalidDataException"/> for a corrupt deflate stream.
    /// </summary>
    public static GzipLayout Decompress(string gzipPath, string contentPath)
    {
        using var input = new FileStream(gzipPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var header = ReadHeader(input);
        using var output = new FileStream(contentPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        using var inflater = ZlibStream.Inflater();
        var inBuffer = new byte[1 << 16];
        var outBuffer = new byte[1 << 16];
        int start = 0, end = 0;
        long deflateLength = 0, size = 0;
        uint crc = 0;
        var ended = false;
        while (!ended)
        {
            if (start == end)
            {
                (start, end) = (0, input.Read(inBuffer));
                if (end == 0) throw new InvalidDataException("the gzip file is truncated inside its deflate stream");
            }
            var (consumed, produced, done) = inflater.Step(inBuffer.AsSpan(start, end - start), outBuffer, finish: false);
            start += consumed;
            deflateLength += consumed;
            output.Write(outBuffer, 0, produced);
            crc = ZlibStream.Crc32(crc, outBuffer.AsSpan(0, produced));
            size += produced;
            ended = done;
        }
        // The trailer: CRC-32 and size mod 2^32, then nothing (a second member or padding is not reproduced).
        var rest = new byte[9];
        var tail = inBuffer.AsSpan(start, end - start);
        var have = Math.Min(tail.Length, rest.Length);
        tail[..have].CopyTo(rest);
        while (have < rest.Length && input.Read(rest, have, rest.Length - have) is var n and > 0) have += n;
        if (have != 8)
            throw new IncompatibleArtifactException(have < 8 ? "the gzip file is truncated in its trailer" : "the gzip file has more than one member or trailing bytes");
        var layout = new GzipLayout(header, deflateLength, BinaryPrimitives.ReadUInt32LittleEndian(rest), BinaryPrimitives.ReadUInt32LittleEndian(rest.AsSpan(4)));
        if (layout.Crc32 != crc || layout.InputSize != (uint)size)
            throw new InvalidDataException("the gzip file's CRC or size does not match its content");
        output.Flush(flushToDisk: true);
        return layout;
    }

    /// <summary>The settings with which zlib reproduces the file's deflate stream exactly, or null.</summary>
    public static GzipSettings? DetectSettings(string gzipPath, GzipLayout layout, string contentPath)
    {
        using var original = File.OpenHandle(gzipPath);
        foreach (var settings in Candidates)
            if (Reproduces(settings, original, layout, contentPath)) return settings;
        return null;
    }

    /// <summary>Compresses the content with the settings, comparing as it goes; stops at the first differing byte.</summary>
    private static bool Reproduces(GzipSettings settings, Microsoft.Win32.SafeHandles.SafeFileHandle original, GzipLayout layout, string contentPath)
    {
        using var content = new FileStream(contentPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        long compared = 0;
        var expected = new byte[1 << 16];
        var matches = true;
        Deflate(content, settings, produced =>
        {
            if (!matches) return false;
            if (compared + produced.Length > layout.DeflateLength) return matches = false;
            var read = RandomAccess.Read(original, expected.AsSpan(0, produced.Length), layout.Header.Length + compared);
            matches = read == produced.Length && produced.SequenceEqual(expected.AsSpan(0, read));
            compared += produced.Length;
            return matches;
        });
        return matches && compared == layout.DeflateLength;
    }

    /// <summary>Writes the gzip file again: the original header, the content deflated with the settings, the trailer.</summary>
    public static void Compress(string contentPath, byte[] header, GzipSettings settings, Stream output)
    {
        using var content = new FileStream(contentPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        output.Write(header);
        var (crc, size) = Deflate(content, settings, produced =>
        {
            output.Write(produced);
            return true;
        });
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)size);
        output.Write(trailer);
    }

    /// <summary>Deflates a stream, handing each piece of output to <paramref name="sink"/> (which may stop it by returning false).</summary>
    private delegate bool Sink(ReadOnlySpan<byte> produced);

    private static (uint Crc, long Size) Deflate(Stream content, GzipSettings settings, Sink sink)
    {
        using var deflater = ZlibStream.Deflater(settings);
        var inBuffer = new byte[1 << 16];
        var outBuffer = new byte[1 << 16];
        uint crc = 0;
        long size = 0;
        while (true)
        {
            var n = content.Read(inBuffer);
            crc = ZlibStream.Crc32(crc, inBuffer.AsSpan(0, n));
            size += n;
            var input = inBuffer.AsSpan(0, n);
            var finish = n == 0;
            while (true)
            {
                var (consumed, produced, ended) = deflater.Step(input, outBuffer, finish);
                input = input[consumed..];
                if (produced > 0 && !sink(outBuffer.AsSpan(0, produced))) return (crc, size);
                if (ended) return (crc, size);
                if (!finish && input.IsEmpty && produced < outBuffer.Length) break; // more input needed
            }
        }
    }

    /// <summary>Reads and returns the header's bytes (fixed part, extra field, name, comment, header CRC).</summary>
    private static byte[] ReadHeader(Stream input)
    {
        var bytes = new List<byte>(32);
        int Next()
        {
            var b = input.ReadByte();
            if (b < 0) throw new IncompatibleArtifactException("not a gzip file: it ends inside its header");
            if (bytes.Count >= MaxHeader) throw new IncompatibleArtifactException("the gzip header is over 64 KiB");
            bytes.Add((byte)b);
            return b;
        }
        for (var i = 0; i < 10; i++) Next();
        if (bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8) throw new IncompatibleArtifactException("not a gzip file");
        var flags = bytes[3];
        if ((flags & 0xE0) != 0) throw new IncompatibleArtifactException("the gzip header has reserved flags set");
        if ((flags & 4) != 0) // FEXTRA
        {
            var length = Next() | Next() << 8;
            for (var i = 0; i < length; i++) Next();
        }
        if ((flags & 8) != 0) while (Next() != 0) { } // FNAME
        if ((flags & 16) != 0) while (Next() != 0) { } // FCOMMENT
        if ((flags & 2) != 0) { Next(); Next(); } // FHCRC
        return [.. bytes];
    }
}

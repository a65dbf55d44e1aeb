using System.Buffers.Binary;

namespace Doras.Delta.Deflate;

/// <summary>The deflate settings a gzip file was made with (zlib's deflateInit2 parameters).</summary>
public sealed record GzipSettings(int Level, int MemLevel = 8, int WindowBits = 15, int Strategy = 0);

/// <summary>gzip files written with the system's zlib, and the deflate loop the rest of this folder shares.</summary>
public static class GzipFile
{
    /// <summary>What zlib's users pick most: the default level first, then the others.</summary>
    internal static readonly GzipSettings[] Candidates =
        [.. new[] { 6, 9, 1, 2, 3, 4, 5, 7, 8 }.Select(level => new GzipSettings(level)), new GzipSettings(9, MemLevel: 9), new GzipSettings(6, MemLevel: 9)];

    /// <summary>Writes a gzip file: the given header, the content deflated with the settings, the CRC-32 and size.</summary>
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

    /// <summary>Receives each piece of deflate output; returning false stops the deflating.</summary>
    internal delegate bool Sink(ReadOnlySpan<byte> produced);

    /// <summary>Deflates a stream to its end, handing each piece of output to <paramref name="sink"/>.</summary>
    internal static (uint Crc, long Size) Deflate(Stream content, GzipSettings settings, Sink sink)
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
}

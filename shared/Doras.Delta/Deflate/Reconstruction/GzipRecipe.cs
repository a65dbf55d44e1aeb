using System.Buffers.Binary;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// Exact reconstruction of a whole gzip file (RFC 1952) from its content: one or more members (pigz and bgzip
/// write several), each with its header kept verbatim, its deflate stream rebuilt by <see cref="DeflateRecipe"/>'s
/// method, and its trailer (CRC-32, size mod 2^32) checked on analysis and computed again on rebuild. Bytes after
/// the last member (zero padding some tools add) are kept verbatim, up to <see cref="MaxVerbatim"/>.
/// Recipe: a zstd frame of format byte 2, then per member the byte 1, the header's length (varint) and bytes,
/// the member's inflated length (varint) and its deflate stream's recipe; then the byte 0, the trailing bytes'
/// length (varint) and the bytes.
/// </summary>
public static class GzipRecipe
{
    private const byte Format = 2;
    private const int MaxVerbatim = 1 << 20;
    /// <summary>Empty members in a row (bgzip ends with one): a recipe may not spin on them.</summary>
    private const int MaxEmptyMembersInARow = 64;

    /// <summary>
    /// Reads the whole gzip file, writes the concatenated content of its members to <paramref name="inflatedOut"/>
    /// and the recipe to <paramref name="recipeOut"/>, then checks that the recipe rebuilds the file. Both outputs
    /// must be readable and seekable. A malformed file (bad header, bad trailer, invalid deflate data) is an
    /// <see cref="InvalidDataException"/>; content over <paramref name="maxInflated"/> bytes an <see cref="IncompatibleArtifactException"/>.
    /// </summary>
    /// <param name="compressedLength">The compressed stream's length where the caller knows it: sizes the recipe encoder's tables.</param>
    public static RecipeStats Analyze(Stream gzip, Stream inflatedOut, Stream recipeOut, long maxInflated, CancellationToken ct = default, long? compressedLength = null)
    {
        RecipeFraming.RequireRereadable(inflatedOut, recipeOut);
        var (inflatedStart, recipeStart) = (inflatedOut.Position, recipeOut.Position);
        var source = new ByteSource(gzip);
        long total = 0;
        using (var zstd = RecipeFraming.Compress(recipeOut, compressedLength))
        {
            var writer = new RecipeWriter(zstd);
            writer.Byte(Format);
            var first = true;
            var emptyInARow = 0;
            Span<byte> trailer = stackalloc byte[8];
            while (true)
            {
                var header = ReadHeader(source, first);
                if (header is null) break;
                first = false;
                writer.Byte(1);
                writer.Varint(header.Length);
                writer.Bytes(header);
                var content = new Crc32Stream(inflatedOut);
                // The member's length goes before its recipe; the recipe is written after, from a buffer.
                var memberRecipe = new MemoryStream();
                var inflated = DeflateStreamCoder.Analyze(source, content, new RecipeWriter(memberRecipe), maxInflated - total, ct);
                total += inflated;
                emptyInARow = inflated == 0 ? emptyInARow + 1 : 0;
                if (emptyInARow > MaxEmptyMembersInARow) throw new IncompatibleArtifactException($"the gzip file has over {MaxEmptyMembersInARow} empty members in a row");
                source.ReadExactly(trailer, "the gzip file ends inside a member's trailer");
                if (BinaryPrimitives.ReadUInt32LittleEndian(trailer) != content.Crc || BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]) != (uint)inflated)
                    throw new InvalidDataException("a gzip member's CRC-32 or size does not match its content");
                writer.Varint(inflated);
                writer.Bytes(memberRecipe.GetBuffer().AsSpan(0, (int)memberRecipe.Length));
            }
            var rest = new MemoryStream();
            for (int b; (b = source.ReadByte()) >= 0;)
            {
                if (rest.Length == MaxVerbatim) throw new IncompatibleArtifactException($"over {MaxVerbatim} bytes that are not gzip members follow the last member");
                rest.WriteByte((byte)b);
            }
            writer.Byte(0);
            writer.Varint(rest.Length);
            writer.Bytes(rest.ToArray());
        }
        var compressed = source.Position;
        RecipeFraming.Verify(inflatedOut, inflatedStart, recipeOut, recipeStart, source.Hash(), Rebuild, ct);
        return new RecipeStats(compressed, total, recipeOut.Position - recipeStart);
    }

    /// <summary>
    /// A member's header bytes, or null where no member starts (the end of the file, or bytes that are not a
    /// gzip header after the first member). The first member must be there.
    /// </summary>
    private static byte[]? ReadHeader(ByteSource source, bool first)
    {
        var header = new MemoryStream();
        int Next()
        {
            var b = source.ReadByte();
            if (b < 0) throw new InvalidDataException("the gzip file ends inside a member's header");
            if (header.Length == MaxVerbatim) throw new IncompatibleArtifactException($"a gzip header is over {MaxVerbatim} bytes");
            header.WriteByte((byte)b);
            return b;
        }
        var id1 = source.ReadByte();
        if (id1 < 0 && !first) return null;
        var id2 = id1 < 0 ? -1 : source.ReadByte();
        var cm = id2 < 0 ? -1 : source.ReadByte();
        if (id1 != 0x1f || id2 != 0x8b || cm != 8)
        {
            if (first) throw new InvalidDataException("not a gzip file (no deflate member header)");
            source.Unread((id1 >= 0 ? 1 : 0) + (id2 >= 0 ? 1 : 0) + (cm >= 0 ? 1 : 0));
            return null;
        }
        header.Write([0x1f, 0x8b, 8]);
        var flags = Next();
        if ((flags & 0xE0) != 0) throw new InvalidDataException("a gzip header has reserved flags set");
        for (var i = 0; i < 6; i++) Next(); // MTIME, XFL, OS
        if ((flags & 4) != 0)
        {
            var length = Next() | Next() << 8;
            for (var i = 0; i < length; i++) Next();
        }
        if ((flags & 8) != 0) while (Next() != 0) { }
        if ((flags & 16) != 0) while (Next() != 0) { }
        if ((flags & 2) != 0) { Next(); Next(); }
        return header.ToArray();
    }

    /// <summary>
    /// Writes the gzip file the recipe describes over <paramref name="inflated"/> (the members' content, read to
    /// its end). A damaged recipe, or one that does not fit the content, is a <see cref="CorruptDeltaException"/>.
    /// </summary>
    public static void Rebuild(Stream inflated, Stream recipe, Stream gzipOut, CancellationToken ct = default) => RecipeFraming.Rebuilding(() =>
    {
        using var zstd = RecipeFraming.Decompress(recipe);
        var reader = new RecipeReader(zstd);
        RecipeFraming.ReadFormat(reader, Format, "gzip");
        int members = 0, emptyInARow = 0;
        while (true)
        {
            var tag = reader.Byte();
            if (tag == 0) break;
            if (tag != 1) throw RecipeReader.Corrupt($"has an unknown gzip record {tag}");
            var header = new byte[reader.Varint(MaxVerbatim, "a gzip header length")];
            reader.Bytes(header);
            if (header.Length < 10 || header[0] != 0x1f || header[1] != 0x8b || header[2] != 8) throw RecipeReader.Corrupt("has an invalid gzip header");
            gzipOut.Write(header);
            var length = reader.Varint(long.MaxValue, "a member length");
            var content = new Crc32Stream(new BoundedReadStream(inflated, length, truncated: $"the {RecipeReader.What} describes more content than there is"));
            DeflateStreamCoder.Rebuild(content, reader, gzipOut, ct);
            var trailer = new byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(trailer, content.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), (uint)content.Count);
            gzipOut.Write(trailer);
            members++;
            emptyInARow = content.Count == 0 ? emptyInARow + 1 : 0;
            if (emptyInARow > MaxEmptyMembersInARow) throw RecipeReader.Corrupt("has too many empty gzip members in a row");
        }
        if (members == 0) throw RecipeReader.Corrupt("has no gzip member");
        var rest = new byte[reader.Varint(MaxVerbatim, "a trailing length")];
        reader.Bytes(rest);
        gzipOut.Write(rest);
        if (!reader.AtEnd()) throw RecipeReader.Corrupt("has data after its end");
        if (inflated.ReadByte() >= 0) throw RecipeReader.Corrupt("describes less content than there is");
    });
}

using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Zstd;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// What <see cref="DeflateRecipe"/> and <see cref="GzipRecipe"/> share: a recipe is one zstd frame (window capped at
/// 1 MiB so the device's decoder stays small) starting with a format byte, and the analyzer promises a recipe only
/// after rebuilding the original from it and comparing digests.
/// </summary>
internal static class RecipeFraming
{
    private const int WindowLog = 20;

    /// <summary>
    /// The recipe's zstd frame, its tables sized for the stream's <paramref name="compressedLength"/> where known (a
    /// recipe is smaller than its stream), at most a window: level 15's for any size are 48 MB, for a window 18 MB.
    /// </summary>
    public static ZstdEncoderStream Compress(Stream recipeOut, long? compressedLength = null) =>
        new(recipeOut, new ZstdCompressionOptions { Level = 15, WindowLog = WindowLog, SizeHint = Math.Clamp(compressedLength ?? long.MaxValue, 1, 1 << WindowLog) }, leaveOpen: true);

    public static ZstdDecoderStream Decompress(Stream recipe) =>
        new(recipe, new ZstdDecompressionOptions { WindowLogMax = WindowLog }, leaveOpen: true);

    /// <summary>Reads the format byte; anything else is a <see cref="CorruptDeltaException"/>.</summary>
    public static void ReadFormat(RecipeReader reader, byte format, string what)
    {
        var found = reader.Byte();
        if (found != format) throw RecipeReader.Corrupt($"is not a {what} recipe (format {found}, expected {format})");
    }

    /// <summary>The streams the analyzer writes must be readable again: it checks its own output.</summary>
    public static void RequireRereadable(Stream inflatedOut, Stream recipeOut)
    {
        if (!inflatedOut.CanSeek || !inflatedOut.CanRead || !recipeOut.CanSeek || !recipeOut.CanRead)
            throw new ArgumentException("the inflated and recipe outputs must be readable and seekable (a file or a MemoryStream): the analyzer rebuilds from them to check its recipe");
    }

    /// <summary>
    /// Rebuilds from what was just written (the streams from the given starts) and compares the digest with the
    /// original's; a difference is an <see cref="IncompatibleArtifactException"/>, never a recipe handed out.
    /// </summary>
    public static void Verify(Stream inflatedOut, long inflatedStart, Stream recipeOut, long recipeStart, byte[] originalSha256,
        Action<Stream, Stream, Stream, CancellationToken> rebuild, CancellationToken ct)
    {
        var (inflatedEnd, recipeEnd) = (inflatedOut.Position, recipeOut.Position);
        inflatedOut.Position = inflatedStart;
        recipeOut.Position = recipeStart;
        var rebuilt = new HashingWriteStream(Stream.Null);
        try
        {
            rebuild(new BoundedReadStream(inflatedOut, inflatedEnd - inflatedStart), new BoundedReadStream(recipeOut, recipeEnd - recipeStart), rebuilt, ct);
        }
        catch (CorruptDeltaException e)
        {
            throw new IncompatibleArtifactException($"the reconstruction recipe does not rebuild the stream ({e.Message}); this is a bug in the analyzer");
        }
        if (rebuilt.Digest != Digest.FromHash(Digest.Sha256, originalSha256))
            throw new IncompatibleArtifactException("the reconstruction recipe rebuilds different bytes; this is a bug in the analyzer");
        inflatedOut.Position = inflatedEnd;
        recipeOut.Position = recipeEnd;
    }

    /// <summary>Runs a rebuild, turning a broken zstd frame into a <see cref="CorruptDeltaException"/>.</summary>
    public static void Rebuilding(Action action)
    {
        try { action(); }
        catch (ZstdException e) { throw new CorruptDeltaException($"the {RecipeReader.What} cannot be decompressed: {e.Message}", e); }
    }
}

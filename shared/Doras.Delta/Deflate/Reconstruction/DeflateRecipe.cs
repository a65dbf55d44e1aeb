namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>What analyzing a stream gave: its compressed and inflated lengths and the recipe's size.</summary>
public sealed record RecipeStats(long CompressedLength, long InflatedLength, long RecipeLength);

/// <summary>
/// Exact reconstruction of a raw deflate stream (RFC 1951) from its inflated bytes plus a small recipe, whatever
/// encoder made it. The analyzer (server) decodes the stream keeping its structure, predicts each token as zlib
/// would choose it and each dynamic header as zlib would build it, and records only where the stream departs
/// from the prediction; the rebuilder (device, pure managed code, no zlib) makes the same predictions, applies
/// the corrections and writes the original bytes. zlib-made streams (and GNU gzip's, pigz's) need almost no
/// corrections; other encoders' need more, but always rebuild exactly. Both sides stream with bounded memory
/// (a 32 KiB window, one block's tokens, <see cref="DeflateLimits"/>), whatever the stream's size.
/// Recipe: a zstd frame of format byte 1 then the stream's recipe (<see cref="DeflateStreamCoder"/>).
/// </summary>
public static class DeflateRecipe
{
    private const byte Format = 1;

    /// <summary>
    /// Reads the whole raw deflate stream <paramref name="deflated"/> (nothing may follow its final block),
    /// writes its inflated bytes to <paramref name="inflatedOut"/> and its recipe to <paramref name="recipeOut"/>,
    /// then rebuilds from those two and checks the result against the original before returning. Both outputs
    /// must be readable and seekable. An invalid stream is an <see cref="InvalidDataException"/>; one inflating past
    /// <paramref name="maxInflated"/> bytes or beyond the block limits an <see cref="Artifacts.IncompatibleArtifactException"/>.
    /// </summary>
    /// <param name="compressedLength">The compressed stream's length where the caller knows it: sizes the recipe encoder's tables.</param>
    public static RecipeStats Analyze(Stream deflated, Stream inflatedOut, Stream recipeOut, long maxInflated, CancellationToken ct = default, long? compressedLength = null)
    {
        RecipeFraming.RequireRereadable(inflatedOut, recipeOut);
        var (inflatedStart, recipeStart) = (inflatedOut.Position, recipeOut.Position);
        var source = new ByteSource(deflated);
        long inflated;
        using (var zstd = RecipeFraming.Compress(recipeOut, compressedLength))
        {
            var writer = new RecipeWriter(zstd);
            writer.Byte(Format);
            inflated = DeflateStreamCoder.Analyze(source, inflatedOut, writer, maxInflated, ct);
        }
        if (!source.AtEnd) throw new InvalidDataException("data follows the deflate stream's final block");
        var compressed = source.Position;
        RecipeFraming.Verify(inflatedOut, inflatedStart, recipeOut, recipeStart, source.Hash(), Rebuild, ct);
        return new RecipeStats(compressed, inflated, recipeOut.Position - recipeStart);
    }

    /// <summary>
    /// Writes the deflate stream <paramref name="recipe"/> describes over <paramref name="inflated"/> (read to its
    /// end, which must be the stream's inflated bytes exactly). A recipe that is damaged or does not fit the bytes
    /// is a <see cref="Algorithms.CorruptDeltaException"/>; the work is bounded by the inflated length.
    /// </summary>
    public static void Rebuild(Stream inflated, Stream recipe, Stream deflatedOut, CancellationToken ct = default) => RecipeFraming.Rebuilding(() =>
    {
        using var zstd = RecipeFraming.Decompress(recipe);
        var reader = new RecipeReader(zstd);
        RecipeFraming.ReadFormat(reader, Format, "deflate");
        DeflateStreamCoder.Rebuild(inflated, reader, deflatedOut, ct);
        if (!reader.AtEnd()) throw RecipeReader.Corrupt("has data after its final block");
    });
}

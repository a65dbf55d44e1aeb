using Doras.Delta.Artifacts;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The recipe of one raw deflate stream, uncompressed (the public classes compress it): the matcher
/// configuration's index (byte), then the blocks' records (<see cref="BlockRecipe"/>) up to the final one.
/// Memory on either side: the 32 KiB window, the predictor's hash chains, one block's tokens (the analyzer holds
/// the blocks decoded ahead of the one it describes, at most two blocks' worth after the first few).
/// </summary>
internal static class DeflateStreamCoder
{
    /// <summary>Tokens the analyzer decodes before picking the matcher configuration that predicts them best.</summary>
    private const int TrialTokens = 1 << 17;

    /// <summary>
    /// Decodes the deflate stream at the source (leaving the source right after it), writes its inflated bytes to
    /// <paramref name="inflatedOut"/> and its recipe to <paramref name="recipe"/>. Returns the inflated length.
    /// </summary>
    public static long Analyze(ByteSource source, Stream inflatedOut, RecipeWriter recipe, long maxInflated, CancellationToken ct)
    {
        var window = new SlidingWindow();
        var decoder = new DeflateDecoder(source, window, maxInflated);
        var queue = new Queue<DeflateBlock>();
        long written = 0, queuedTokens = 0;
        var emptyInARow = 0;
        MatchPredictor? predictor = null;
        var done = false;
        while (!done)
        {
            ct.ThrowIfCancellationRequested();
            var block = decoder.Next()!;
            emptyInARow = block.Length == 0 ? emptyInARow + 1 : 0;
            if (emptyInARow > DeflateLimits.MaxEmptyBlocksInARow)
                throw new IncompatibleArtifactException($"the deflate stream has over {DeflateLimits.MaxEmptyBlocksInARow} empty blocks in a row");
            done = block.EndsStream;
            inflatedOut.Write(window.Span(written, (int)(window.End - written)));
            written = window.End;
            queue.Enqueue(block);
            queuedTokens += block.TokenCount + block.Length / 8;
            if (predictor is null)
            {
                if (!done && queuedTokens < TrialTokens) continue;
                var config = Choose(queue, window, done ? written : (long?)null);
                recipe.Byte(Array.IndexOf(MatcherConfig.All, config));
                predictor = new MatchPredictor(config, window);
            }
            if (done) predictor.SetEnd(written);
            while (queue.Count > 0 && (done || window.End >= predictor.DataEnd(queue.Peek().Start + queue.Peek().Length)))
            {
                BlockRecipe.Analyze(queue.Dequeue(), predictor, recipe);
                window.Discard(predictor.Position - 32768);
            }
        }
        return written;
    }

    /// <summary>
    /// The configuration whose recipe for the blocks decoded so far is smallest once compressed (the count of
    /// corrections misleads: small ranks compress far better than raw distances); among those within 10 % of the
    /// smallest, the one with the shortest chains (the device rebuilds several times faster for a slightly larger recipe). A
    /// configuration predicting every token and header ends the search.
    /// </summary>
    private static MatcherConfig Choose(IEnumerable<DeflateBlock> blocks, SlidingWindow window, long? end)
    {
        var costs = new List<(MatcherConfig Config, long Cost)>();
        var tables = new PredictorTables();
        foreach (var config in MatcherConfig.All)
        {
            var trial = new MatchPredictor(config, window, tables);
            if (end is { } e) trial.SetEnd(e);
            var records = new MemoryStream();
            long corrections = 0;
            foreach (var block in blocks)
            {
                if (end is null && window.End < trial.DataEnd(block.Start + block.Length)) break;
                corrections += BlockRecipe.Analyze(block, trial, new RecipeWriter(records));
            }
            if (corrections == 0) return config;
            var compressed = new MemoryStream();
            // Its length pledged, zstd sizes its tables to the records (a 3.5 MB context otherwise, for each trial).
            using (var zstd = new Zstd.ZstdEncoderStream(compressed, new Zstd.ZstdCompressionOptions { Level = 3, Checksum = false, PledgedSize = records.Length }, leaveOpen: true))
                zstd.Write(records.GetBuffer(), 0, (int)records.Length);
            costs.Add((config, compressed.Length));
        }
        var best = costs.Min(c => c.Cost);
        return costs.Where(c => c.Cost <= best + best / 10).OrderBy(c => c.Config.Chain).ThenBy(c => c.Cost).First().Config;
    }

    /// <summary>
    /// Writes the deflate stream the recipe describes over the inflated bytes, which must be exactly this
    /// stream's (all of <paramref name="inflated"/> is used). A recipe that does not fit them is a
    /// <see cref="CorruptDeltaException"/>.
    /// </summary>
    public static void Rebuild(Stream inflated, RecipeReader recipe, Stream output, CancellationToken ct)
    {
        var index = recipe.Byte();
        if (index >= MatcherConfig.All.Length) throw RecipeReader.Corrupt($"names an unknown matcher configuration {index}");
        var window = new SlidingWindow();
        var predictor = new MatchPredictor(MatcherConfig.All[index], window);
        var endKnown = false;
        long Ensure(long upTo)
        {
            if (!endKnown && !window.Fill(inflated, upTo))
            {
                endKnown = true;
                predictor.SetEnd(window.End);
            }
            return window.End;
        }
        var writer = new DeflateWriter(output);
        var tokens = new int[1024];
        var emptyInARow = 0;
        var continuing = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var block = BlockRecipe.Rebuild(recipe, predictor, Ensure, ref tokens, continuing);
            continuing = block.Continued;
            emptyInARow = block.Length == 0 ? emptyInARow + 1 : 0;
            if (emptyInARow > DeflateLimits.MaxEmptyBlocksInARow) throw RecipeReader.Corrupt("has too many empty blocks in a row");
            try { writer.Write(block, window); }
            catch (InvalidDataException e) { throw RecipeReader.Corrupt($"does not make a valid deflate block: {e.Message}"); }
            window.Discard(Math.Min(block.Start, predictor.Position - 32768));
            if (block.EndsStream) break;
        }
        if (Ensure(predictor.Position + 1) > predictor.Position) throw RecipeReader.Corrupt("ends before the inflated data does");
    }
}

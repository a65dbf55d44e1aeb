using System.IO.Compression;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Deflate;
using Doras.Delta.Deflate.Reconstruction;

namespace Doras.Tests.Delta.Reconstruction;

/// <summary>
/// Exact reconstruction of deflate streams and gzip files from their content plus a recipe: every encoder's
/// output must come back byte for byte; zlib's (and GNU gzip's, pigz's) with a recipe of next to nothing.
/// </summary>
public class ReconstructionTests
{
    /// <summary>Text-like content: words from a small vocabulary (matches at all distances), some numbers, a binary part.</summary>
    internal static byte[] Content(int size, int seed)
    {
        var random = new Random(seed);
        string[] words = ["the", "layer", "image", "delta", "compress", "function", "return", "int", "const", "static", "{", "}", "(", ");", "\n", "    ", "if", "else", "var", "digest", "sha256:", "manifest", "=", "0x"];
        var text = new System.Text.StringBuilder();
        while (text.Length < size * 3 / 4)
        {
            text.Append(words[random.Next(words.Length)]).Append(random.Next(10) == 0 ? random.Next(100000).ToString() : "").Append(' ');
        }
        var bytes = System.Text.Encoding.ASCII.GetBytes(text.ToString());
        return [.. bytes.AsSpan(0, size * 3 / 4), .. TestData.Binary(size - size * 3 / 4, seed)];
    }

    internal static RecipeStats RoundTripRaw(byte[] deflated, long maxInflated = long.MaxValue)
    {
        var (inflated, recipe) = (new MemoryStream(), new MemoryStream());
        var stats = DeflateRecipe.Analyze(new MemoryStream(deflated), inflated, recipe, maxInflated);
        var rebuilt = new MemoryStream();
        DeflateRecipe.Rebuild(new MemoryStream(inflated.ToArray()), new MemoryStream(recipe.ToArray()), rebuilt);
        Assert.That(rebuilt.ToArray(), Is.EqualTo(deflated), "rebuilt byte for byte");
        Assert.That(stats.RecipeLength, Is.EqualTo(recipe.Length));
        return stats;
    }

    internal static RecipeStats RoundTripGzip(byte[] gzip, byte[]? content = null)
    {
        var (inflated, recipe) = (new MemoryStream(), new MemoryStream());
        var stats = GzipRecipe.Analyze(new MemoryStream(gzip), inflated, recipe, long.MaxValue);
        if (content is not null) Assert.That(inflated.ToArray(), Is.EqualTo(content));
        var rebuilt = new MemoryStream();
        GzipRecipe.Rebuild(new MemoryStream(inflated.ToArray()), new MemoryStream(recipe.ToArray()), rebuilt);
        Assert.That(rebuilt.ToArray(), Is.EqualTo(gzip), "rebuilt byte for byte");
        TestContext.Out.WriteLine($"{gzip.Length} bytes compressed, {stats.InflatedLength} inflated, recipe {stats.RecipeLength} bytes ({100.0 * stats.RecipeLength / gzip.Length:F2} %)");
        return stats;
    }

    private static byte[] ZlibRaw(byte[] content, GzipSettings settings)
    {
        var gz = new MemoryStream();
        using var dir = new TempDirectory();
        GzipFile.Compress(dir.Write("content", content), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], settings, gz);
        return gz.ToArray()[10..^8];
    }

    [Test]
    public void Zlib_streams_of_every_level_are_rebuilt_from_a_tiny_recipe([Range(0, 9)] int level)
    {
        var content = Content(600_000, level);
        var deflated = ZlibRaw(content, new GzipSettings(level));
        var stats = RoundTripRaw(deflated);
        TestContext.Out.WriteLine($"level {level}: {deflated.Length} bytes, recipe {stats.RecipeLength}");
        Assert.That(stats.InflatedLength, Is.EqualTo(content.Length));
        Assert.That(stats.RecipeLength, Is.LessThan(level == 0 ? 400 : 200), "zlib's choices are predicted");
    }
}

using System.Diagnostics;
using System.IO.Compression;
using Doras.Delta.Deflate.Reconstruction;

namespace Doras.Benchmarks;

/// <summary>
/// Side data and speed of deflate reconstruction (benchmarks/deflate-reconstruction.sh): for each gzip file, the
/// recipe's size against the compressed size, analysis speed (decode, predict, write the recipe, and the check by
/// rebuilding) and rebuild speed, both in inflated MB per second. Every rebuild is compared byte for byte.
/// "dotnet:LEVEL:CONTENT" makes the gzip file with .NET's GZipStream (zlib-ng) first.
/// </summary>
public static class DeflateReconstructionMeasure
{
    public static int Run(IEnumerable<string> files)
    {
        Console.WriteLine("| file | compressed bytes | inflated bytes | recipe bytes | % of compressed | analyze MB/s | rebuild MB/s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var spec in files)
        {
            var (name, bytes) = Load(spec);
            var (inflated, recipe) = (new MemoryStream(), new MemoryStream());
            var clock = Stopwatch.StartNew();
            var stats = GzipRecipe.Analyze(new MemoryStream(bytes), inflated, recipe, long.MaxValue);
            var analyze = clock.Elapsed.TotalSeconds;
            var rebuilt = new MemoryStream(bytes.Length);
            clock.Restart();
            GzipRecipe.Rebuild(new MemoryStream(inflated.ToArray()), new MemoryStream(recipe.ToArray()), rebuilt);
            var rebuild = clock.Elapsed.TotalSeconds;
            if (!rebuilt.ToArray().AsSpan().SequenceEqual(bytes)) throw new InvalidOperationException($"{name} was not rebuilt byte for byte");
            Console.WriteLine($"| {name} | {bytes.Length:N0} | {stats.InflatedLength:N0} | {stats.RecipeLength:N0} | {100.0 * stats.RecipeLength / bytes.Length:F3} | {stats.InflatedLength / 1e6 / analyze:F1} | {stats.InflatedLength / 1e6 / rebuild:F1} |");
        }
        return 0;
    }

    private static (string Name, byte[] Bytes) Load(string spec)
    {
        if (!spec.StartsWith("dotnet:", StringComparison.Ordinal)) return (Path.GetFileName(spec), File.ReadAllBytes(spec));
        var parts = spec.Split(':', 3);
        var level = Enum.Parse<CompressionLevel>(parts[1]);
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, level, leaveOpen: true)) gzip.Write(File.ReadAllBytes(parts[2]));
        return ($".NET GZipStream {level}", output.ToArray());
    }
}

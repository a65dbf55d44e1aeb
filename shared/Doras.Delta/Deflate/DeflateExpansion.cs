using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Deflate;

/// <summary>
/// A deflate stream as it lies in the expanded form, inflated, and how to compress it back exactly: with zlib and
/// <see cref="Settings"/>, or (Settings null) by the reconstruction recipe at <see cref="RecipeOffset"/> in the
/// recipes file, <see cref="RecipeLength"/> bytes (<see cref="Reconstruction.DeflateRecipe"/>).
/// </summary>
public sealed record ExpandedRegion(long ExpandedOffset, long InflatedLength, long CompressedLength, GzipSettings? Settings, long RecipeOffset = 0, long RecipeLength = 0);

/// <summary>
/// The expanded form of a container: its bytes with (some of) its deflate streams replaced by what they inflate
/// to. Close versions of a compressed file have close expanded forms, so deltas between those are small; the
/// container is rebuilt from its expanded form by deflating each region again with the settings found for it.
/// </summary>
public static class DeflateExpansion
{
    /// <summary>
    /// Writes the expanded form of <paramref name="path"/>: the regions <paramref name="inflate"/> picks are
    /// inflated, everything else is copied. Returns where each inflated region lies in the output and its length.
    /// Throws <see cref="InvalidDataException"/> when a region is not exactly one deflate stream.
    /// </summary>
    public static List<(int Index, long ExpandedOffset, long InflatedLength)> Expand(string path, IReadOnlyList<DeflateRegion> regions, Func<int, bool> inflate, Stream output)
    {
        using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var expanded = new List<(int, long, long)>();
        long written = 0;
        for (var i = 0; i < regions.Count; i++)
        {
            if (!inflate(i)) continue;
            var region = regions[i];
            written += Copy(input, region.Offset - input.Position, output);
            var inflated = Inflate(new BoundedReadStream(input, region.Length), region.Length, output);
            expanded.Add((i, written, inflated));
            written += inflated;
        }
        Copy(input, input.Length - input.Position, output);
        return expanded;
    }

    /// <summary>Inflates exactly <paramref name="length"/> bytes that must be one whole raw deflate stream.</summary>
    private static long Inflate(Stream compressed, long length, Stream output)
    {
        using var inflater = ZlibStream.Inflater();
        var inBuffer = new byte[1 << 16];
        var outBuffer = new byte[1 << 16];
        int start = 0, end = 0;
        long consumedTotal = 0, produced = 0;
        while (true)
        {
            if (start == end) (start, end) = (0, compressed.Read(inBuffer));
            var (consumed, n, ended) = inflater.Step(inBuffer.AsSpan(start, end - start), outBuffer, finish: false);
            start += consumed;
            consumedTotal += consumed;
            output.Write(outBuffer, 0, n);
            produced += n;
            if (ended)
            {
                if (consumedTotal != length) throw new InvalidDataException($"a deflate stream ends after {consumedTotal} of its {length} bytes");
                return produced;
            }
            if (consumed == 0 && n == 0 && start == end && end == 0) throw new InvalidDataException("a deflate stream is truncated");
        }
    }

    private static long Copy(Stream input, long count, Stream output)
    {
        if (count < 0) throw new InvalidDataException("deflate regions overlap");
        var buffer = new byte[1 << 16];
        for (var left = count; left > 0;)
        {
            var n = input.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new InvalidDataException("the file ended early");
            output.Write(buffer, 0, n);
            left -= n;
        }
        return count;
    }

    /// <summary>
    /// The settings with which zlib turns the inflated bytes (in the expanded file) back into exactly the original
    /// region, or null. <paramref name="first"/> is tried first: entries of one archive usually share settings.
    /// </summary>
    public static GzipSettings? DetectSettings(SafeFileHandle original, DeflateRegion region, string expandedPath, long expandedOffset, long inflatedLength, GzipSettings? first)
    {
        foreach (var settings in first is null ? GzipFile.Candidates : GzipFile.Candidates.Prepend(first).Distinct())
        {
            using var expanded = new FileStream(expandedPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan) { Position = expandedOffset };
            long compared = 0;
            var expected = new byte[1 << 16];
            var matches = true;
            GzipFile.Deflate(new BoundedReadStream(expanded, inflatedLength), settings, produced =>
            {
                if (compared + produced.Length > region.Length) return matches = false;
                var read = RandomAccess.Read(original, expected.AsSpan(0, produced.Length), region.Offset + compared);
                matches = read == produced.Length && produced.SequenceEqual(expected.AsSpan(0, read));
                compared += produced.Length;
                return matches;
            });
            if (matches && compared == region.Length) return settings;
        }
        return null;
    }

    /// <summary>
    /// Rebuilds the container from its expanded form. Throws <see cref="CorruptDeltaException"/> when a region does
    /// not lie inside the file or does not deflate to its recorded length (this system's zlib differs), or its
    /// reconstruction recipe (in <paramref name="recipesPath"/>) is damaged.
    /// </summary>
    public static void Rebuild(string expandedPath, IReadOnlyList<ExpandedRegion> regions, Stream output, string? recipesPath = null)
    {
        using var input = new FileStream(expandedPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var recipes = recipesPath is null ? null : new FileStream(recipesPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        foreach (var region in regions)
        {
            if (region.ExpandedOffset < input.Position || region.InflatedLength > input.Length - region.ExpandedOffset)
                throw new CorruptDeltaException($"a recompression region [{region.ExpandedOffset}, +{region.InflatedLength}) lies outside the expanded content");
            Copy(input, region.ExpandedOffset - input.Position, output);
            if (region.Settings is null)
            {
                if (recipes is null || region.RecipeOffset + region.RecipeLength > recipes.Length)
                    throw new CorruptDeltaException("a reconstruction recipe lies outside the delta's recipes");
                recipes.Position = region.RecipeOffset;
                var counted = new HashingWriteStream(output);
                Reconstruction.DeflateRecipe.Rebuild(new BoundedReadStream(input, region.InflatedLength), new BoundedReadStream(recipes, region.RecipeLength), counted);
                if (counted.BytesWritten != region.CompressedLength)
                    throw new CorruptDeltaException($"a reconstruction recipe gave {counted.BytesWritten} bytes, not {region.CompressedLength}");
                continue;
            }
            long produced = 0;
            GzipFile.Deflate(new BoundedReadStream(input, region.InflatedLength), region.Settings!, bytes =>
            {
                produced += bytes.Length;
                if (produced > region.CompressedLength) return false;
                output.Write(bytes);
                return true;
            });
            if (produced != region.CompressedLength)
                throw new CorruptDeltaException($"recompressing a region gave {produced} bytes, not {region.CompressedLength}: this system's zlib differs from the one the delta was made for");
        }
        Copy(input, input.Length - input.Position, output);
    }
}

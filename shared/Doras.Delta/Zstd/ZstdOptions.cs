namespace Doras.Delta.Zstd;

/// <summary>How to compress. The defaults suit artifacts: a strong level, a checksum of the content.</summary>
public sealed record ZstdCompressionOptions
{
    /// <summary>1 (fast) to 22 (smallest); negative levels are faster still.</summary>
    public int Level { get; init; } = 19;

    /// <summary>log2 of the window; 0 lets zstd choose from the level and the pledged size.</summary>
    public int WindowLog { get; init; }

    public bool LongDistanceMatching { get; init; }

    /// <summary>Worker threads; 0 compresses on the calling thread.</summary>
    public int Workers { get; init; }

    /// <summary>Adds an xxHash64 of the content to the frame, which the decoder checks.</summary>
    public bool Checksum { get; init; } = true;

    /// <summary>The exact number of bytes that will be written, recorded in the frame header; null when unknown.</summary>
    public long? PledgedSize { get; init; }

    /// <summary>
    /// About how many bytes will be written, when the exact number is not known beforehand (not recorded in the frame).
    /// zstd sizes its match tables by it, and its window when no window is set (a smaller hint can change the bytes):
    /// without one (nor a pledged size) it takes the level's tables for inputs of any size, whatever the window: 84 MB
    /// at level 19 for a stream of 4 bytes. With neither given, the window's size (<see cref="WindowLog"/>) is the hint.
    /// </summary>
    public long? SizeHint { get; init; }

    /// <summary>
    /// Settings for a patch-from delta, as `zstd --patch-from` chooses them: a window that covers the larger
    /// of the two inputs, and long-distance matching so matches far back in the old version are found.
    /// </summary>
    public static ZstdCompressionOptions ForPatch(long oldSize, long newSize, int level = 19, int workers = 0) => new()
    {
        Level = level,
        WindowLog = WindowLogFor(Math.Max(oldSize, newSize)),
        LongDistanceMatching = true,
        Workers = workers,
        PledgedSize = newSize,
    };

    /// <summary>The window `zstd --patch-from` picks: floor(log2(size)) + 1, within zstd's limits (10..31).</summary>
    public static int WindowLogFor(long size) =>
        Math.Clamp(64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(size, 1)), 10, 31);
}

public sealed record ZstdDecompressionOptions
{
    /// <summary>The largest window a frame may ask for (log2). 27 (128 MiB) is zstd's default; patches need more.</summary>
    public int WindowLogMax { get; init; } = 27;

    /// <summary>Decoding fails once more than this many bytes come out: protection against decompression bombs.</summary>
    public long MaxOutputBytes { get; init; } = long.MaxValue;
}

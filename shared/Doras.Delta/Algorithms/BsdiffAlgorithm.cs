using Doras.Delta.Bsdiff;
using Doras.Delta.Zstd;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff (our implementation of the classic suffix-array algorithm), stored as the delta header then one zstd
/// frame of the interleaved record stream. Building holds both versions and the suffix array in memory
/// (about 9 bytes per byte of the old version, so it is for the server); applying streams with bounded memory.
/// </summary>
public sealed class BsdiffAlgorithm(int level = 19, int workers = 0, long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : IDeltaAlgorithm
{
    public const string AlgorithmName = "bsdiff";

    /// <summary>The most it can take: the suffix array uses 32-bit positions.</summary>
    public const long MaxInputBytes = int.MaxValue / 2;

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.bsdiff+zstd";

    /// <summary>The match scan of large versions runs on up to this many cores (holding the records of all parts but the first in memory).</summary>
    private static int ScanParallelism => Math.Min(Environment.ProcessorCount, 4);

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var limit = Math.Min(maxInputBytes, MaxInputBytes);
        if (oldVersion.Size > limit || newVersion.Size > limit)
            throw new Artifacts.IncompatibleArtifactException($"bsdiff is limited to versions of {limit} bytes here");
        var old = await File.ReadAllBytesAsync(oldVersion.Path, ct).ConfigureAwait(false);
        var @new = await File.ReadAllBytesAsync(newVersion.Path, ct).ConfigureAwait(false);
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        await using var encoder = new ZstdEncoderStream(delta, WrappedStream.CompressionFor(newVersion.Size, level, workers), leaveOpen: true);
        // The suffix sort recurses; a thread with a roomy stack keeps pathological inputs from overflowing it.
        await WrappedStream.RunWithLargeStackAsync(() => BsdiffDelta.Write(old, @new, encoder, ScanParallelism), ct).ConfigureAwait(false);
        await encoder.FinishAsync(ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        await WrappedStream.DecodeAsync(remainder, targetSize, records => BsdiffDelta.ApplyAsync(oldVersion.Path, records, output, targetSize, ct), ct).ConfigureAwait(false);
    }
}

/// <summary>What the algorithms that store a zstd-compressed stream of their own share.</summary>
internal static class WrappedStream
{
    /// <summary>A window of at most 16 MiB: the device's decoder allocates it, so it must not grow with the artifact.</summary>
    public static ZstdCompressionOptions CompressionFor(long size, int level, int workers = 0) =>
        new() { Level = level, WindowLog = Math.Min(ZstdCompressionOptions.WindowLogFor(size), 24), LongDistanceMatching = true, Workers = workers };

    /// <summary>Decodes the compressed stream and hands it to <paramref name="apply"/>, checking the size produced.</summary>
    public static async Task DecodeAsync(Stream compressed, long targetSize, Func<Stream, Task<long>> apply, CancellationToken ct)
    {
        try
        {
            // The inner stream is at most the target plus a few bytes per command; far more is a bomb.
            var limit = targetSize == long.MaxValue ? long.MaxValue : 2 * targetSize + (64 << 20);
            await using var raw = new ZstdDecoderStream(compressed, new ZstdDecompressionOptions { WindowLogMax = 24, MaxOutputBytes = limit }, leaveOpen: true);
            var produced = await apply(raw).ConfigureAwait(false);
            if (targetSize != long.MaxValue && produced != targetSize)
                throw new CorruptDeltaException($"delta produced {produced} bytes, expected {targetSize}");
            ct.ThrowIfCancellationRequested();
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }

    public static Task RunWithLargeStackAsync(Action work, CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { work(); done.SetResult(); }
            catch (Exception e) { done.SetException(e); }
        }, maxStackSize: 256 << 20) { IsBackground = true, Name = "delta build" };
        thread.Start();
        return done.Task.WaitAsync(ct);
    }
}

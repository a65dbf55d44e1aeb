using Doras.Delta.Octodiff;
using Doras.Delta.Zstd;

namespace Doras.Delta.Algorithms;

/// <summary>
/// rsync-style deltas in Octodiff's format, stored in our wrapped form: the delta header (base, target,
/// algorithm) as a zstd skippable frame, then the Octodiff delta compressed as one zstd frame, so literal data
/// costs what zstd makes of it. Signatures and raw deltas in Octodiff's own format come from
/// <see cref="OctodiffSignature"/> and <see cref="OctodiffDelta"/> (and `doras-delta signature`/`diff --signature`).
/// </summary>
public sealed class OctodiffAlgorithm(int level = 19, int chunkSize = OctodiffSignature.DefaultChunkSize) : IDeltaAlgorithm
{
    public const string AlgorithmName = "octodiff";

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.octodiff+zstd";

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        var signatureBytes = new MemoryStream();
        await using (var old = new FileStream(oldVersion.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            await OctodiffSignature.WriteAsync(old, signatureBytes, chunkSize, ct).ConfigureAwait(false);
        signatureBytes.Position = 0;
        var signature = OctodiffSignature.Read(signatureBytes);
        await using var source = new FileStream(newVersion.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var options = new ZstdCompressionOptions { Level = level, WindowLog = ZstdCompressionOptions.WindowLogFor(newVersion.Size), LongDistanceMatching = true };
        await using var encoder = new ZstdEncoderStream(delta, options, leaveOpen: true);
        await Task.Run(() => OctodiffDelta.Write(signature, source, encoder), ct).ConfigureAwait(false);
        await encoder.FinishAsync(ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        try
        {
            // The raw delta is at most the target plus a few bytes per command; far more is a bomb.
            var limit = targetSize == long.MaxValue ? long.MaxValue : 2 * targetSize + (64 << 20);
            await using var raw = new ZstdDecoderStream(remainder, new ZstdDecompressionOptions { WindowLogMax = 31, MaxOutputBytes = limit }, leaveOpen: true);
            var produced = await OctodiffDelta.ApplyAsync(oldVersion.Path, raw, output, targetSize, ct).ConfigureAwait(false);
            if (targetSize != long.MaxValue && produced != targetSize)
                throw new CorruptDeltaException($"delta produced {produced} bytes, expected {targetSize}");
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }
}

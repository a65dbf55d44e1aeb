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

    /// <summary>
    /// Fast, and last in <c>auto</c>, left out once bsdiff-lzma or bsdiff-exe is built: on the 11 macro pairs where both
    /// were measured (benchmarks/RESULTS.md: executables, libraries, a JavaScript bundle, a tar tree and two .tgz files)
    /// its delta was 1.02-1.05x bsdiff-lzma's where the versions share little (swc, the compressed pairs) and 2.7-9.6x
    /// elsewhere; it saved prettier's tar 0.5 s of 4 in <c>auto</c>.
    /// </summary>
    public DeltaAlgorithmProfile Profile { get; } = new() { BytesPerSecond = 40e6, AutoOrder = 5, LeftOut = Outclassed.Always };

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        var signatureBytes = new MemoryStream();
        await using (var old = new FileStream(oldVersion.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            await OctodiffSignature.WriteAsync(old, signatureBytes, chunkSize, ct).ConfigureAwait(false);
        signatureBytes.Position = 0;
        var signature = OctodiffSignature.Read(signatureBytes);
        await using var source = new FileStream(newVersion.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        await WrappedStream.WriteFrameAsync(delta, WrappedStream.SpoolDirectoryFor(newVersion), AlgorithmName, level, workers: 0,
            spool => Task.Run(() => OctodiffDelta.Write(signature, source, spool, ct), ct), ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        await WrappedStream.DecodeAsync(remainder, targetSize, raw => OctodiffDelta.ApplyAsync(oldVersion.Path, raw, output, targetSize, ct), ct).ConfigureAwait(false);
    }
}

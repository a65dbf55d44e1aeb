using Doras.Delta.Tardiff;
using Doras.Delta.Zstd;

namespace Doras.Delta.Algorithms;

/// <summary>
/// Member-by-member deltas between two tar archives (<see cref="TardiffDelta"/>), stored as the delta header
/// then one zstd frame of the operation stream. For directory artifacts, whose content is a tar; other
/// content is refused with <see cref="Artifacts.IncompatibleArtifactException"/>, so <c>auto</c> moves on.
/// </summary>
public sealed class TardiffAlgorithm(int level = 19, int workers = 0, long bsdiffMaxBytes = BsdiffAlgorithm.MaxInputBytes) : IDeltaAlgorithm, IArtifactKindSpecific
{
    public const string AlgorithmName = "tardiff";

    /// <summary>Directory artifacts, whose content is a tar.</summary>
    public Artifacts.ArtifactKind Kind => Artifacts.ArtifactKind.Directory;

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.tardiff+zstd";

    /// <summary>First in <c>auto</c>: it refuses at once what is not a tar, and is the one made for tars.</summary>
    public DeltaAlgorithmProfile Profile { get; } = new() { Description = "tar archives", BytesPerSecond = 4e6, AutoOrder = 0 };

    /// <summary>The most of the operation stream held in memory before it is built; more waits in a file.</summary>
    internal const int SpoolMemoryBytes = 16 << 20;

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        using var old = NativeView.MapFile(oldVersion.Path);
        using var @new = NativeView.MapFile(newVersion.Path);
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        // The operation stream is spooled, then compressed with its size pledged, so zstd sizes its level-19 tables to
        // the stream, not to the new version (prettier's tar: a 1.4 MB stream of an 8.5 MB tree, 130 -> 79 MiB, 1.27 -> 1.08 s
        // CPU, 5 bytes larger). Past SpoolMemoryBytes it waits in a file beside the new version.
        await using var spool = new Spool(Path.GetDirectoryName(Path.GetFullPath(newVersion.Path))!, AlgorithmName, SpoolMemoryBytes);
        // bsdiff's suffix sort wants a roomy stack.
        await WrappedStream.RunWithLargeStackAsync(() => TardiffDelta.Write(old, @new, spool, level, bsdiffMaxBytes, ct), ct).ConfigureAwait(false);
        spool.Position = 0;
        await using var encoder = new ZstdEncoderStream(delta, WrappedStream.CompressionFor(spool.Length, level, workers) with { PledgedSize = spool.Length }, leaveOpen: true);
        await spool.CopyToAsync(encoder, 1 << 16, ct).ConfigureAwait(false);
        await encoder.FinishAsync(ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        await WrappedStream.DecodeAsync(remainder, targetSize, ops => TardiffDelta.ApplyAsync(oldVersion.Path, ops, output, targetSize, ct), ct).ConfigureAwait(false);
    }
}

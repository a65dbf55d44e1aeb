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

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        using var old = NativeView.MapFile(oldVersion.Path);
        using var @new = NativeView.MapFile(newVersion.Path);
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        // One frame of the whole operation stream, its length pledged; bsdiff's suffix sort wants a roomy stack.
        await WrappedStream.WriteFrameAsync(delta, WrappedStream.SpoolDirectoryFor(newVersion), AlgorithmName, level, workers,
            spool => WrappedStream.RunWithLargeStackAsync(() => TardiffDelta.Write(old, @new, spool, level, bsdiffMaxBytes, ct), ct), ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        await WrappedStream.DecodeAsync(remainder, targetSize, ops => TardiffDelta.ApplyAsync(oldVersion.Path, ops, output, targetSize, ct), ct).ConfigureAwait(false);
    }
}

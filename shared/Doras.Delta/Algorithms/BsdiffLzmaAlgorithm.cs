using Doras.Delta.Bsdiff;
using Doras.Delta.Lzma;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff's three parts (<see cref="BsdiffDelta"/>) with LZMA2 as the entropy coder instead of zstd: about 10 %
/// smaller deltas of executables (lzma's literal and match coding suits byte differences and new code better).
/// Format: the delta header, a format byte (1), then the parts as <see cref="LzmaParts"/> lays them out. When
/// liblzma (liblzma.so.5) cannot be loaded the build is refused, so <c>auto</c> keeps the zstd bsdiff.
/// </summary>
public sealed class BsdiffLzmaAlgorithm(long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : BsdiffPartsAlgorithm(maxInputBytes)
{
    public const string AlgorithmName = "bsdiff-lzma";

    private const byte Format = 1;
    private const string What = "bsdiff-lzma delta";

    public override string Name => AlgorithmName;
    public override string MediaType => "application/vnd.doras.delta.bsdiff+lzma2";

    /// <summary>
    /// Outclasses bsdiff and Octodiff (see theirs; not zstd, which gives way to bsdiff-exe alone), so <c>auto</c> builds
    /// it before them; gives way to bsdiff-exe, which outclasses everything it does. Devices need liblzma to decode it.
    /// </summary>
    public override DeltaAlgorithmProfile Profile { get; } = new()
    {
        AppliesHere = LzmaLibrary.IsAvailable, BytesPerSecond = 3e6, AutoOrder = 2, OutclassingStrength = 1, LeftOut = Outclassed.Always,
    };

    public override async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        Lzma2.EnsureAvailable(); // before reading the versions: no scan is wasted where the system has no liblzma
        using var versions = await ReadVersionsAsync(oldVersion, newVersion, ct).ConfigureAwait(false);
        var parts = await WrappedStream.RunWithLargeStackAsync(
            () => LzmaParts.Encode(versions, versions.Scan(ct), predict: null, ct), ct).ConfigureAwait(false);
        await WriteAsync(delta, oldVersion, newVersion, [Format, .. parts.DictionaryLogs], parts.Control, parts.Extra, parts.Diff, ct).ConfigureAwait(false);
    }

    protected override async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder, _) = await LzmaParts.ReadHeadAsync(oldVersion, delta, expected, AlgorithmName, [Format], What, ct).ConfigureAwait(false);
        await LzmaParts.ApplyAsync(oldVersion.Path, remainder, output, expected?.Size ?? header.TargetSize, spoolDirectory, What, predict: null, ct).ConfigureAwait(false);
    }
}

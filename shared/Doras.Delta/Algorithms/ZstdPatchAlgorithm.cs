using Doras.Delta.Zstd;

namespace Doras.Delta.Algorithms;

/// <summary>
/// zstd's patch-from mode: the new version compressed with the old version as a referenced prefix, with
/// long-distance matching and a window sized to the inputs. Decodable by `zstd -d --patch-from=OLD`.
/// </summary>
public sealed class ZstdPatchAlgorithm(int level = 19, int workers = 0) : IDeltaAlgorithm
{
    public const string AlgorithmName = "zstd";

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.zstd-patch";

    /// <summary>After the bsdiffs, which came out smaller on the npm pairs; it came near bsdiff-lzma only on versions that share little.</summary>
    public DeltaAlgorithmProfile Profile { get; } = new() { BytesPerSecond = 8e6, AutoOrder = 4, LeftOut = Outclassed.UnlessVersionsShareLittle,
        // Measured only on executables against bsdiff-exe: on a 9 MB JavaScript bundle a bsdiff-lzma delta under a quarter
        // of the file still came out 1.49x zstd's, so a bsdiff-lzma delta does not leave zstd out.
        LeftOutOnlyFrom = 2 };

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var header = new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName);
        await delta.WriteAsync(header.ToBytes(), ct).ConfigureAwait(false);

        using var prefix = NativeView.MapFile(oldVersion.Path);
        await using var source = new FileStream(newVersion.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var options = ZstdCompressionOptions.ForPatch(prefix.Length, source.Length, level, workers);
        await using var encoder = new ZstdEncoderStream(delta, options, prefix, leaveOpen: true);
        await source.CopyToAsync(encoder, 1 << 17, ct).ConfigureAwait(false);
        await encoder.FinishAsync(ct).ConfigureAwait(false);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (header, input) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        using var prefix = NativeView.MapFile(oldVersion.Path);
        var targetSize = expected?.Size ?? header?.TargetSize;
        var options = new ZstdDecompressionOptions
        {
            WindowLogMax = 31,
            MaxOutputBytes = targetSize ?? long.MaxValue,
        };
        try
        {
            await using var decoder = new ZstdDecoderStream(input, options, prefix, leaveOpen: true);
            await decoder.CopyToAsync(output, 1 << 17, ct).ConfigureAwait(false);
            if (targetSize is { } size && decoder.BytesProduced != size)
                throw new CorruptDeltaException($"delta produced {decoder.BytesProduced} bytes, expected {size}");
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }

    /// <summary>Decodes into a memory map of the output: no window-sized buffer, whatever the artifact's size.</summary>
    public async Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default)
    {
        var (_, input) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        using var prefix = NativeView.MapFile(oldVersion.Path);
        try
        {
            await ZstdFileDecoder.DecompressToFileAsync(input, outputPath, expected.Size, prefix, ct: ct).ConfigureAwait(false);
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }
}

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

    /// <summary>
    /// The level of <see cref="DeltaAlgorithmProfile.Probe"/>: a hash-chain match finder. From level 13 zstd 1.5 indexes the old
    /// version in a binary tree, most of a level-19 build: on typescript 5.9.2 -> 5.9.3 (9.1 MB) `zstd --patch-from --long`
    /// took 0.19 s CPU at level 12, 2.4 s at 13 and 2.7 s at 19; level 9 took 0.09 s (benchmarks/RESULTS.md, 2026-12-07).
    /// </summary>
    public const int ProbeLevel = 9;

    /// <summary>
    /// Level 19 is built only when the smallest delta so far is over this share of the level-9 probe's. Measured with
    /// `doras-delta diff -a zstd --level 9 / 19` on 17 pairs (the 6 non-ELF or share-little pairs of macro.sh, the
    /// firmware image and 10 more JavaScript bundles: typescript, plotly.js, sass, @babel/standalone, echarts, consecutive
    /// and not): level 19's delta was 0.54 (sass 1.107.1 -> 1.108.2) to 0.996 of level 9's, never under 0.54; 0.45
    /// leaves a margin of 17 %. The pairs it leaves at level 9 had the smallest delta at 0.034-0.433 of the probe's
    /// (deflate on the two prettier .tgz pairs; bsdiff-lzma on the typescript 5.9.3, 6.0.3 and sass 1.108.2 patch releases).
    /// </summary>
    public const double ProbeShare = 0.45;

    /// <summary>Whether level 19 may still come out under <paramref name="toBeat"/> bytes, given a level-9 probe of <paramref name="probeSize"/> (<see cref="ProbeShare"/>).</summary>
    public static bool FullLevelMayBeat(double probeSize, long toBeat) => probeSize * ProbeShare < toBeat;

    public int Level => level;

    /// <summary>After the bsdiffs, which came out smaller on the npm pairs; it came near bsdiff-lzma only on versions that share little.</summary>
    public DeltaAlgorithmProfile Profile { get; } = new() { BytesPerSecond = 8e6, AutoOrder = 4, LeftOut = Outclassed.UnlessVersionsShareLittle,
        // Measured only on executables against bsdiff-exe: on a 9 MB JavaScript bundle a bsdiff-lzma delta under a quarter
        // of the file still came out 1.49x zstd's, so a bsdiff-lzma delta does not leave zstd out.
        LeftOutOnlyFrom = 2,
        // Level 19 is most of its cost and can lose by far: probed at level 9 first (ProbeShare, ProbedCandidates).
        Probe = level > ProbeLevel ? new ZstdPatchAlgorithm(ProbeLevel, workers) : null, ProbeShare = ProbeShare };

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var header = new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName);
        await delta.WriteAsync(header.ToBytes(), ct).ConfigureAwait(false);

        using var prefix = NativeView.MapFile(oldVersion.Path);
        if (workers == 0 && ZstdCodec.Default.TakesGrowingStableInput)
        {
            // Read in place: zstd keeps no copy of its window, which covers the whole new version (ZstdFileEncoder).
            using var mapped = NativeView.MapVersion(newVersion.Path, newVersion.Size);
            await ZstdFileEncoder.CompressAsync(mapped, delta, ZstdCompressionOptions.ForPatch(prefix.Length, mapped.Length, level), prefix, ct: ct).ConfigureAwait(false);
            await delta.FlushAsync(ct).ConfigureAwait(false);
            return;
        }
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

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Doras.Delta.Zstd;
using Doras.Tests.Support;

namespace Doras.Benchmarks;

/// <summary>
/// The two zstd implementations side by side on what each side of Doras does with zstd: the server's
/// patch-from build (level 19, long-distance matching, window over the inputs) and full compression, and the
/// device's decoding of the patch straight into a file (stable output buffer) and of a full download. The
/// server keeps libzstd only where it is more than 1.3x faster than ZstdSharp; the device always decodes
/// with ZstdSharp (read the Decode rows for what that costs it).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class ZstdCodecBenchmarks
{
    /// <summary>Few, long iterations (a level-19 build takes seconds), in this process: no generated project to build.</summary>
    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1)
            .WithIterationCount(3).WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(20), logOutput: true)));
    }

    private string _dir = null!;
    private byte[] _new = null!;
    private NativeView _old = null!;
    private byte[] _patch = null!, _full = null!;
    private ZstdCodec _codec = null!;
    private ZstdCompressionOptions _patchOptions = null!;

    [Params("libzstd", "ZstdSharp")] public string Codec = "libzstd";

    [GlobalSetup]
    public void Setup()
    {
        _codec = Codec == "libzstd" ? ZstdCodec.Native : ZstdCodec.Managed;
        _dir = Directory.CreateTempSubdirectory("doras-zstd-bench-").FullName;
        var v1 = TestData.Binary(2 << 20, seed: 1);
        _new = TestData.Edit(v1, seed: 2, edits: 50);
        _old = NativeView.Pin(v1);
        _patchOptions = ZstdCompressionOptions.ForPatch(v1.Length, _new.Length);
        // Both implementations decode the same frames (libzstd's), so the decode rows compare like with like.
        _patch = Compress(ZstdCodec.Native, _patchOptions, _old);
        _full = Compress(ZstdCodec.Native, new ZstdCompressionOptions { Level = 19, PledgedSize = _new.Length }, null);
    }

    private byte[] Compress(ZstdCodec codec, ZstdCompressionOptions options, NativeView? prefix)
    {
        var output = new MemoryStream();
        using (var encoder = new ZstdEncoderStream(output, options, prefix, leaveOpen: true, codec)) encoder.Write(_new);
        return output.ToArray();
    }

    [Benchmark(Description = "server: patch-from build, level 19, long")]
    public int BuildPatch() => Compress(_codec, _patchOptions, _old).Length;

    [Benchmark(Description = "server: full layer, level 19")]
    public int CompressFull() => Compress(_codec, new ZstdCompressionOptions { Level = 19, PledgedSize = _new.Length }, null).Length;

    [Benchmark(Description = "device: apply the patch into a file")]
    public long ApplyPatch()
    {
        var path = Path.Combine(_dir, "applied");
        File.Delete(path);
        ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(_patch), path, _new.Length, _old, codec: _codec).GetAwaiter().GetResult();
        return new FileInfo(path).Length;
    }

    [Benchmark(Description = "device: decode a full download")]
    public long DecodeFull()
    {
        using var decoder = new ZstdDecoderStream(new MemoryStream(_full), codec: _codec);
        decoder.CopyTo(Stream.Null);
        return decoder.BytesProduced;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _old.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

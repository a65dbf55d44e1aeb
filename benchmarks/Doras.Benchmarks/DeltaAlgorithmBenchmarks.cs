using BenchmarkDotNet.Attributes;
using Doras.Delta.Algorithms;
using Doras.Oci.Model;
using Doras.Tests.Support;

namespace Doras.Benchmarks;

/// <summary>
/// Encode and decode throughput of each delta algorithm on a synthetic 8 MiB version pair (200 edits): as they
/// are, as a tar of 16 files (tardiff), or gzip-compressed by zlib at level 6 (deflate).
/// Decode writes to a file the way the device does (in place for zstd, streamed for the others).
/// </summary>
[MemoryDiagnoser]
public class DeltaAlgorithmBenchmarks
{
    private string _dir = null!;
    private DeltaInput _old = null!, _new = null!;
    private byte[] _delta = null!;
    private IDeltaAlgorithm _algorithm = null!;

    [Params("zstd", "bsdiff", "octodiff", "tardiff", "deflate")] public string Algorithm = "zstd";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("doras-bench-").FullName;
        var v1 = TestData.Binary(8 << 20, seed: 1);
        var v2 = TestData.Edit(v1, seed: 2, edits: 200);
        _old = Write("old", Shape(v1));
        _new = Write("new", Shape(v2));
        _algorithm = DeltaAlgorithms.Default(zstdLevel: 19).Find(Algorithm)!;
        var delta = new MemoryStream();
        _algorithm.EncodeAsync(_old, _new, delta).GetAwaiter().GetResult();
        _delta = delta.ToArray();
    }

    /// <summary>The version in the form the algorithm takes.</summary>
    private byte[] Shape(byte[] content)
    {
        switch (Algorithm)
        {
            case "tardiff":
                var tar = new MemoryStream();
                using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
                    for (var i = 0; i < 16; i++)
                        writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, $"lib/part{i:D2}.bin")
                            { DataStream = new MemoryStream(content, i * content.Length / 16, content.Length / 16) });
                return tar.ToArray();
            case "deflate":
                var raw = Path.Combine(_dir, "raw");
                File.WriteAllBytes(raw, content);
                var gz = new MemoryStream();
                Doras.Delta.Deflate.GzipFile.Compress(raw, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], new Doras.Delta.Deflate.GzipSettings(6), gz);
                return gz.ToArray();
            default:
                return content;
        }
    }

    private DeltaInput Write(string name, byte[] content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, content);
        return new DeltaInput(path, Digest.Compute(content), content.Length);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [Benchmark]
    public Task Encode() => _algorithm.EncodeAsync(_old, _new, Stream.Null);

    [Benchmark]
    public async Task Decode()
    {
        var output = Path.Combine(_dir, "out-" + Guid.NewGuid().ToString("N"));
        await _algorithm.ApplyToFileAsync(_old, new MemoryStream(_delta), output, new DeltaTarget(_new.Digest, _new.Size));
        File.Delete(output);
    }
}

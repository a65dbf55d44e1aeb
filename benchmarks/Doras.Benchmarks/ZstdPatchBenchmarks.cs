using BenchmarkDotNet.Attributes;
using Doras.Delta.Algorithms;
using Doras.Oci.Model;
using Doras.Tests.Support;

namespace Doras.Benchmarks;

/// <summary>Encode and decode throughput of the zstd patch-from delta on a synthetic 8 MiB version pair.</summary>
[MemoryDiagnoser]
public class ZstdPatchBenchmarks
{
    private string _dir = null!;
    private DeltaInput _old = null!, _new = null!;
    private byte[] _delta = null!;

    [Params(3, 19)] public int Level;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("doras-bench-").FullName;
        var v1 = TestData.Binary(8 << 20, seed: 1);
        var v2 = TestData.Edit(v1, seed: 2, edits: 200);
        _old = Write("old", v1);
        _new = Write("new", v2);
        var delta = new MemoryStream();
        new ZstdPatchAlgorithm(Level).EncodeAsync(_old, _new, delta).GetAwaiter().GetResult();
        _delta = delta.ToArray();
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
    public Task Encode() => new ZstdPatchAlgorithm(Level).EncodeAsync(_old, _new, Stream.Null);

    [Benchmark]
    public Task Decode() => new ZstdPatchAlgorithm(Level).ApplyAsync(_old, new MemoryStream(_delta), Stream.Null, null);
}

using BenchmarkDotNet.Running;
using Doras.Benchmarks;
using Doras.Tests.Support;

// dotnet run -c Release --project benchmarks/Doras.Benchmarks -- compare [OLD NEW]...   (ratios against zstd --patch-from)
// dotnet run -c Release --project benchmarks/Doras.Benchmarks -- deflate-recipe FILE.gz|dotnet:LEVEL:FILE...   (deflate reconstruction)
// dotnet run -c Release --project benchmarks/Doras.Benchmarks -- [BenchmarkDotNet arguments]   (throughput)
if (args.FirstOrDefault() == "deflate-recipe") return DeflateReconstructionMeasure.Run(args.Skip(1));
if (args.FirstOrDefault() == "compare")
{
    var files = args.Skip(1).ToArray();
    var pairs = new List<(string, string, string)>();
    for (var i = 0; i + 1 < files.Length; i += 2)
        pairs.Add(($"{Path.GetFileName(files[i])} -> {Path.GetFileName(files[i + 1])}", files[i], files[i + 1]));
    if (pairs.Count == 0)
    {
        var dir = Directory.CreateTempSubdirectory("doras-pairs-").FullName;
        var v1 = TestData.Binary(16 << 20, seed: 7);
        var v2 = TestData.Edit(v1, seed: 8, edits: 200);
        File.WriteAllBytes(Path.Combine(dir, "synthetic-v1"), v1);
        File.WriteAllBytes(Path.Combine(dir, "synthetic-v2"), v2);
        pairs.Add(("synthetic 16 MiB", Path.Combine(dir, "synthetic-v1"), Path.Combine(dir, "synthetic-v2")));
    }
    return await PeerComparison.RunAsync(pairs);
}
BenchmarkSwitcher.FromAssembly(typeof(DeltaAlgorithmBenchmarks).Assembly).Run(args);
return 0;

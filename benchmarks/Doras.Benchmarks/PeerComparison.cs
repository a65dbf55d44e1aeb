using System.Diagnostics;
using Doras.Delta.Algorithms;
using Doras.Oci.Model;

namespace Doras.Benchmarks;

/// <summary>
/// Our zstd delta against `zstd -19 --long --patch-from` on the same version pairs, in the same run:
/// sizes and times as ratios to the peer. Every output is applied and checked byte for byte.
/// </summary>
public static class PeerComparison
{
    public static async Task<int> RunAsync(IReadOnlyList<(string Name, string Old, string New)> pairs)
    {
        Console.WriteLine($"{"pair",-28} {"new bytes",12} {"ours",10} {"zstd cli",10} {"size ratio",10} {"time ratio",10}");
        var work = Directory.CreateTempSubdirectory("doras-compare-").FullName;
        try
        {
            long oursTotal = 0, peerTotal = 0;
            foreach (var (name, oldPath, newPath) in pairs)
            {
                var old = Input(oldPath);
                var @new = Input(newPath);
                var ours = Path.Combine(work, "ours");
                var watch = Stopwatch.StartNew();
                await using (var file = File.Create(ours)) await new ZstdPatchAlgorithm(19).EncodeAsync(old, @new, file);
                var oursTime = watch.Elapsed;
                await VerifyAsync(old, ours, newPath);

                var peer = Path.Combine(work, "peer");
                watch.Restart();
                Run("zstd", "-q", "-f", "-19", "--long", $"--patch-from={oldPath}", newPath, "-o", peer);
                var peerTime = watch.Elapsed;
                Run("zstd", "-q", "-f", "-d", "--long=31", $"--patch-from={oldPath}", peer, "-o", Path.Combine(work, "peer.out"));
                if (!File.ReadAllBytes(Path.Combine(work, "peer.out")).AsSpan().SequenceEqual(File.ReadAllBytes(newPath)))
                    throw new InvalidOperationException($"zstd's delta for {name} did not reproduce the new version");

                var (o, p) = (new FileInfo(ours).Length, new FileInfo(peer).Length);
                oursTotal += o;
                peerTotal += p;
                Console.WriteLine($"{name,-28} {@new.Size,12:N0} {o,10:N0} {p,10:N0} {(double)o / p,10:0.000} {oursTime / peerTime,10:0.00}");
            }
            Console.WriteLine($"{"total",-28} {"",12} {oursTotal,10:N0} {peerTotal,10:N0} {(double)oursTotal / peerTotal,10:0.000}");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static DeltaInput Input(string path) => new(path, Digest.Compute(File.ReadAllBytes(path)), new FileInfo(path).Length);

    private static async Task VerifyAsync(DeltaInput old, string delta, string expectedPath)
    {
        var output = new MemoryStream();
        await using (var stream = File.OpenRead(delta)) await new ZstdPatchAlgorithm().ApplyAsync(old, stream, output, null);
        if (!output.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(expectedPath)))
            throw new InvalidOperationException($"our delta did not reproduce {expectedPath}");
    }

    private static void Run(string tool, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} failed: {error}");
    }
}

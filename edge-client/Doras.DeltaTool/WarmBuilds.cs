using System.Diagnostics;

namespace Doras.DeltaTool;

/// <summary>
/// <c>diff --warm-runs N</c>, for benchmarks: a server builds deltas in a process whose JIT has compiled the code and
/// whose runtime has started long before, which a single run of this tool pays for in every build (about 0.3 s of CPU
/// on a 2 MB pair). The first N - 1 builds go to scratch files beside the destination and are deleted; the last is
/// written as usual, and its CPU time (user + system of the whole process while it ran) goes to standard error.
/// </summary>
internal static class WarmBuilds
{
    public static async Task RunAsync(int runs, Destination destination, Func<Destination, bool, Task> build)
    {
        for (var run = 1; run < runs; run++)
        {
            var scratch = destination.TemporaryBeside();
            try { await build(new Destination(scratch, replace: false), true); }
            finally { File.Delete(scratch); }
        }
        var process = Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        await build(destination, false);
        process.Refresh();
        if (runs > 1)
            Console.Error.WriteLine($"build CPU: {(process.TotalProcessorTime - before).TotalSeconds:0.000} s (build {runs} of {runs} in this process)");
    }
}

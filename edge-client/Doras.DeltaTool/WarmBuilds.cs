using System.Diagnostics;

namespace Doras.DeltaTool;

/// <summary>
/// <c>diff --warm-runs N</c>, for benchmarks: a server builds deltas in a process whose runtime started and whose JIT
/// compiled the code long before, which a single run of this tool pays for in every build (about 0.3 s of CPU and 40
/// MiB on a 2 MB pair). The first N - 1 builds go to scratch files beside the destination and are deleted; the last is
/// written as usual, and what it alone cost goes to standard error: its CPU time (user + system of the whole process
/// while it ran) and, on Linux, its peak memory above what the process held before it (the kernel's peak RSS, reset
/// for it through /proc/self/clear_refs).
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
        var resident = runs > 1 ? ResetPeak() : null;
        await build(destination, false);
        if (runs == 1) return;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - before).TotalSeconds;
        var memory = resident is { } held && Status("VmHWM:") is { } peak
            ? $", peak memory {(peak - held) / 1024.0:0.0} MiB above the process's {held / 1024.0:0.0} MiB before"
            : "";
        Console.Error.WriteLine($"build CPU: {cpu:0.000} s{memory} (build {runs} of {runs} in this process)");
    }

    /// <summary>Resets the kernel's peak RSS of this process to its current RSS (Linux 4.0 on); returns that RSS in KiB, or null.</summary>
    private static long? ResetPeak()
    {
        if (!OperatingSystem.IsLinux()) return null;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true); // the warm-up builds' garbage is not this build's
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return Status("VmRSS:");
    }

    private static long? Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field, StringComparison.Ordinal) && long.TryParse(line[field.Length..].Trim().Split(' ')[0], out var kib)) return kib;
        return null;
    }
}

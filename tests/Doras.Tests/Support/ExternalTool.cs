using System.Diagnostics;

namespace Doras.Tests.Support;

/// <summary>Runs a real independent tool (zstd, skopeo) and returns its exit code and output.</summary>
public static class ExternalTool
{
    public static (int ExitCode, string Output) Run(string tool, params string[] args) =>
        Run(new ProcessStartInfo(tool, args), TimeSpan.FromMinutes(2));

    /// <summary>Runs <paramref name="start"/> (its environment and directory as set) for at most <paramref name="limit"/>.</summary>
    public static (int ExitCode, string Output) Run(ProcessStartInfo start, TimeSpan limit)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{start.FileName}' is not installed; install it as .ci/run does (apt-get install -y zstd skopeo)", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{start.FileName} did not finish within {limit.TotalMinutes:0} minutes");
            }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    public static string RunOk(string tool, params string[] args)
    {
        var (code, output) = Run(tool, args);
        Assert.That(code, Is.Zero, $"{tool} {string.Join(' ', args)} failed: {output}");
        return output;
    }
}

using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Doras.Tests.Support;

/// <summary>How <see cref="ExternalTool"/> starts a program: its environment, directory, standard input and time bound.</summary>
public sealed record ToolOptions
{
    /// <summary>Variables set for the program (a null value removes the variable it would inherit).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>The program's working directory (the test's, by default).</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Written to the program's standard input, which is then closed; null leaves standard input alone.</summary>
    public string? Stdin { get; init; }

    /// <summary>How long <see cref="ExternalTool.Run(string, string[], ToolOptions)"/> lets it run before killing its process tree.</summary>
    public TimeSpan Limit { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>What a finished program printed and how it exited. Deconstructs to (exit code, stdout + stderr).</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Standard output followed by standard error.</summary>
    public string Output => Stdout + Stderr;

    public void Deconstruct(out int exitCode, out string output) => (exitCode, output) = (ExitCode, Output);

    public static implicit operator (int, string)(ToolResult result) => (result.ExitCode, result.Output);
}

/// <summary>
/// The one way the tests start a process: a real independent tool (zstd, skopeo), the `doras` and `doras-server`
/// programs, or a long-running service (registry, redis, a server). <see cref="Run(string, string[])"/> waits, bounded,
/// and gives the exit code and output; <see cref="Start"/> gives a <see cref="ToolProcess"/> whose disposal kills it.
/// </summary>
public static class ExternalTool
{
    public static ToolResult Run(string tool, params string[] args) => Run(tool, args, new ToolOptions());

    /// <summary>
    /// Runs <paramref name="tool"/> for at most <see cref="ToolOptions.Limit"/>: past it, kills its process tree and
    /// throws <see cref="TimeoutException"/>.
    /// </summary>
    public static ToolResult Run(string tool, string[] args, ToolOptions options)
    {
        using var process = Start(tool, args, options);
        if (!process.WaitForExit(options.Limit))
        {
            process.Kill();
            throw new TimeoutException($"{tool} did not finish within {Describe(options.Limit)}");
        }
        return process.Result;
    }

    /// <summary>As <see cref="Run(string, string[], ToolOptions)"/>, waiting asynchronously; cancelling kills the process tree.</summary>
    public static async Task<ToolResult> RunAsync(string tool, string[] args, ToolOptions? options = null, CancellationToken ct = default)
    {
        options ??= new ToolOptions();
        await using var process = Start(tool, args, options);
        if (!await process.WaitForExitAsync(options.Limit, ct))
        {
            process.Kill();
            throw new TimeoutException($"{tool} did not finish within {Describe(options.Limit)}");
        }
        return process.Result;
    }

    public static string RunOk(string tool, params string[] args)
    {
        var (code, output) = Run(tool, args);
        Assert.That(code, Is.Zero, $"{tool} {string.Join(' ', args)} failed: {output}");
        return output;
    }

    /// <summary>Starts <paramref name="tool"/> and returns at once; its output is collected as it comes.</summary>
    public static ToolProcess Start(string tool, string[] args, ToolOptions? options = null)
    {
        options ??= new ToolOptions();
        var start = new ProcessStartInfo(tool, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = options.Stdin is not null,
            UseShellExecute = false,
        };
        if (options.WorkingDirectory is not null) start.WorkingDirectory = options.WorkingDirectory;
        foreach (var (name, value) in options.Environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        Process process;
        try { process = Process.Start(start) ?? throw new InvalidOperationException($"'{tool}' did not start"); }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"'{tool}' is not installed; install it as .ci/run does (apt-get install -y zstd skopeo docker-registry redis-server)", e);
        }
        return new ToolProcess(process, options.Stdin);
    }

    internal static string Describe(TimeSpan limit) =>
        limit >= TimeSpan.FromMinutes(1) ? $"{limit.TotalMinutes:0.#} minutes" : $"{limit.TotalSeconds:0.#} s";
}

/// <summary>
/// A started program: its output collected as it comes (exact text per stream, and the lines of both in order of
/// arrival), bounded waits for its exit or a line, SIGKILL of its process tree or SIGTERM. Disposal kills it (tree)
/// if it still runs.
/// </summary>
public sealed class ToolProcess : IDisposable, IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly ConcurrentQueue<(bool Error, string Line)> _lines = new();
    private readonly Task _pumps;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    internal ToolProcess(Process process, string? stdin)
    {
        _process = process;
        _pumps = Task.WhenAll(
            Task.Run(() => PumpAsync(process.StandardOutput, _stdout, error: false)),
            Task.Run(() => PumpAsync(process.StandardError, _stderr, error: true)));
        if (stdin is not null)
        {
            try
            {
                process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }
            catch (IOException) { } // it exited without reading: its exit code tells
        }
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Standard output so far, exactly as written.</summary>
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    /// <summary>Standard error so far, exactly as written.</summary>
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Standard output followed by standard error.</summary>
    public string Output => Stdout + Stderr;

    /// <summary>The lines of standard output and error, in order of arrival.</summary>
    public IReadOnlyList<string> Lines => [.. _lines.Select(l => l.Line)];

    /// <summary>The lines of standard output alone.</summary>
    public IReadOnlyList<string> StdoutLines => [.. _lines.Where(l => !l.Error).Select(l => l.Line)];

    /// <summary>The exit code and all the output of a program that has exited.</summary>
    public ToolResult Result
    {
        get
        {
            if (!_process.HasExited) throw new InvalidOperationException("the program still runs");
            WaitForOutput();
            return new ToolResult(_process.ExitCode, Stdout, Stderr);
        }
    }

    /// <summary>Whether it exited within <paramref name="bound"/> (its output then read to the end).</summary>
    public bool WaitForExit(TimeSpan bound)
    {
        if (!_process.WaitForExit(bound)) return false;
        WaitForOutput();
        return true;
    }

    /// <inheritdoc cref="WaitForExit"/>
    public async Task<bool> WaitForExitAsync(TimeSpan bound, CancellationToken ct = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(bound);
        try { await _process.WaitForExitAsync(limit.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
        catch (OperationCanceledException)
        {
            Kill();
            throw;
        }
        await Task.WhenAny(_pumps, Task.Delay(OutputGrace, CancellationToken.None));
        return true;
    }

    /// <summary>
    /// Waits, at most <paramref name="bound"/>, for a line that satisfies <paramref name="match"/>; null if none came
    /// (or the program exited without one).
    /// </summary>
    public async Task<string?> WaitForLineAsync(Func<string, bool> match, TimeSpan bound)
    {
        using var limit = new CancellationTokenSource(bound);
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (_lines.FirstOrDefault(l => match(l.Line)) is { Line: not null } found) return found.Line;
            if (_pumps.IsCompleted || limit.IsCancellationRequested) return null;
            try { await changed.WaitAsync(limit.Token); }
            catch (OperationCanceledException) { } // one last look
        }
    }

    /// <summary>SIGKILL to it and every process it started: no shutdown of any kind, as when the machine dies.</summary>
    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // already exited
    }

    /// <summary>SIGKILL (tree), then waits (bounded) for the exit and the end of its output.</summary>
    public async Task KillAsync()
    {
        Kill();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await _process.WaitForExitAsync(bound.Token);
        await Task.WhenAny(_pumps, Task.Delay(OutputGrace, CancellationToken.None));
    }

    /// <summary>SIGTERM, as an orchestrator stops a container; waits (at most a minute) for the exit.</summary>
    public async Task TerminateAsync()
    {
        if (SendSignal(_process.Id, 15) != 0) throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await _process.WaitForExitAsync(bound.Token);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>How long the output may still flow after the exit (a child that inherited the pipes may hold them open).</summary>
    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(30);

    private void WaitForOutput() => _pumps.Wait(OutputGrace);

    private async Task PumpAsync(StreamReader reader, StringBuilder text, bool error)
    {
        var buffer = new char[4096];
        var line = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (text) text.Append(buffer, 0, read);
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != '\n') { line.Append(buffer[i]); continue; }
                AddLine(error, line);
            }
        }
        if (line.Length > 0) AddLine(error, line);
        Signal();
    }

    private void AddLine(bool error, StringBuilder line)
    {
        if (line.Length > 0 && line[^1] == '\r') line.Length--;
        _lines.Enqueue((error, line.ToString()));
        line.Clear();
        Signal();
    }

    private void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            Kill();
            _process.WaitForExit(TimeSpan.FromMinutes(1));
        }
        WaitForOutput();
        _process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            Kill();
            using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await _process.WaitForExitAsync(bound.Token);
        }
        await Task.WhenAny(_pumps, Task.Delay(OutputGrace));
        _process.Dispose();
    }
}

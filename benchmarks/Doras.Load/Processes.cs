using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Doras.Load;

/// <summary>A child process on 127.0.0.1 whose output lines are kept (and written to a log file).</summary>
public sealed class Child : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly StreamWriter _log;

    public Child(string name, string file, IEnumerable<string> args, string logPath)
    {
        Name = name;
        _log = new StreamWriter(logPath) { AutoFlush = true };
        _process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException($"{file} did not start");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _lines.Enqueue(line);
        lock (_log) _log.WriteLine(line);
    }

    public string Name { get; }
    public bool HasExited => _process.HasExited;
    public IReadOnlyList<string> Lines => [.. _lines];
    public bool Killed { get; private set; }

    public async Task KillAsync()
    {
        Killed = true;
        _process.Kill(); // SIGKILL
        await _process.WaitForExitAsync();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits (at most 60 s) until <paramref name="url"/> answers one of the statuses.</summary>
    public async Task WaitUntilUpAsync(string url, params HttpStatusCode[] statuses)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 600 && !HasExited; i++)
        {
            try
            {
                using var response = await http.GetAsync(url);
                if (statuses.Contains(response.StatusCode)) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"{Name} did not come up at {url}:\n{string.Join('\n', Lines.TakeLast(20))}");
    }

    private int _disposed;

    /// <summary>Kills the process if it still runs; once (the run's end and a stop from outside may both ask).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}

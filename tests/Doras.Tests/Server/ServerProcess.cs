using System.Net;
using System.Net.Sockets;

namespace Doras.Tests.Server;

/// <summary>
/// The real <c>doras-server</c> as its own process on 127.0.0.1 (so it can be killed with SIGKILL or stopped with
/// SIGTERM like a deployed one), its log lines collected one per line.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly ToolProcess _process;

    private ServerProcess(ToolProcess process, int port)
    {
        _process = process;
        Port = port;
        Url = new Uri($"http://127.0.0.1:{port}/");
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromMinutes(2) };
    }

    public int Port { get; }
    public Uri Url { get; }
    public HttpClient Http { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public IReadOnlyList<string> Lines => _process.Lines;

    /// <summary>How many log lines contain <paramref name="text"/>.</summary>
    public int Count(string text) => _process.Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>A free loopback port (for a server whose URL the registry must know before the server starts).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the server with these settings and waits (at most 60 s) until <c>/healthz</c> answers.</summary>
    public static async Task<ServerProcess> StartAsync(int port, params string[] args)
    {
        var server = new ServerProcess(ExternalTool.Start("dotnet", [Binaries.Server, "--urls", $"http://127.0.0.1:{port}",
            "--Logging:Console:FormatterName", "simple", "--Logging:Console:FormatterOptions:SingleLine", "true", "--Logging:Console:FormatterOptions:TimestampFormat", "HH:mm:ss.fff ", .. args]), port);
        var up = await Eventually.HoldsWithinAsync(async () =>
        {
            if (server.HasExited) return true; // no use waiting
            try
            {
                using var response = await server.Http.GetAsync("/healthz");
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException) { return false; }
        }, TimeSpan.FromSeconds(60));
        if (up && !server.HasExited) return server;
        var log = string.Join('\n', server.Lines);
        await server.DisposeAsync();
        throw new InvalidOperationException($"doras-server did not come up on port {port}:\n{log}");
    }

    /// <summary>Waits (bounded) until a log line contains <paramref name="text"/> <paramref name="times"/> times; false if it never did.</summary>
    public async Task<bool> WaitForLogAsync(string text, TimeSpan bound, int times = 1)
    {
        await Eventually.HoldsWithinAsync(() => Count(text) >= times || HasExited, bound, TimeSpan.FromMilliseconds(50));
        return Count(text) >= times;
    }

    /// <summary>SIGKILL: no shutdown of any kind, as when the machine dies.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>SIGTERM, as an orchestrator stops a container; waits (bounded) for the exit.</summary>
    public Task TerminateAsync() => _process.TerminateAsync();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _process.DisposeAsync(); // kills it if it still runs
    }
}

using System.Net.Sockets;
using System.Text;

namespace Doras.Tests.Server;

/// <summary>A real Redis (Debian's redis-server) on 127.0.0.1 with a random port, nothing persisted. Installs nothing: .ci/run does.</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    private readonly ToolProcess _process;

    private RedisProcess(ToolProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <param name="port">A given port (e.g. one a server was told to use while nothing listened there), else a free one.</param>
    public static async Task<RedisProcess> StartAsync(int? port = null)
    {
        port ??= ServerProcess.FreePort();
        var process = ExternalTool.Start("redis-server", ["--port", port.Value.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        var redis = new RedisProcess(process, port.Value);
        var up = await Eventually.HoldsWithinAsync(async () =>
        {
            if (process.HasExited) return true; // no use waiting
            try { return await redis.CommandAsync("PING") == "+PONG"; }
            catch (SocketException) { return false; }
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        if (up && !process.HasExited) return redis;
        await redis.DisposeAsync();
        throw new InvalidOperationException("redis-server did not come up");
    }

    /// <summary>One inline command; the first line of the answer (RESP), e.g. <c>+PONG</c> or <c>*0</c>.</summary>
    public async Task<string> CommandAsync(string command)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadLineAsync() ?? "";
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync(); // kills it
    }
}

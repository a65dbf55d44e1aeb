using System.Net;
using System.Net.Sockets;

namespace Doras.Tests.Resilience;

/// <summary>A server that accepts connections and never answers: the update gives up at its deadline, exit 3, naming why.</summary>
public class DeadServerTests
{
    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run(Binaries.Doras, args);

    /// <summary>Accepts every connection and holds it open without a byte of answer.</summary>
    private sealed class SilentServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _held = [];
        private readonly CancellationTokenSource _stop = new();

        public SilentServer()
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var socket = await _listener.AcceptSocketAsync(_stop.Token);
                        lock (_held) _held.Add(socket);
                    }
                }
                catch (OperationCanceledException) { }
            });
        }

        public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_held) _held.ForEach(s => s.Dispose());
        }
    }

    [Test, CancelAfter(120_000)]
    public async Task Pull_from_a_silent_server_exits_3_at_its_deadline_with_or_without_a_version_installed(CancellationToken ct)
    {
        using var dead = new SilentServer();
        using var dir = new TempDirectory();

        var (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", dead.Url.ToString(), "--output", dir["fresh"], "--timeout", "3"), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.Contain("doras: the update of fleet/tool:stable gave up after 3 s: "));
        Assert.That(Directory.Exists(dir["fresh"]), Is.False);

        await using (var server = await RunningServer.StartAsync())
        {
            await Versions.PublishFileAsync(server.Store.Repository("fleet/tool"), server.Scratch, "tool", TestData.Binary(100_000, 41), "stable");
            (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]), ct);
            Assert.That(code, Is.Zero, output);
        }
        var installed = File.ReadAllBytes(dir["device/tool"]);
        (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", dead.Url.ToString(), "--output", dir["device"], "--timeout", "3"), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.Contain("doras: the update of fleet/tool:stable gave up after 3 s: "));
        Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(installed), "the installed version is untouched");
    }

    [Test, CancelAfter(120_000)]
    public async Task The_stall_timeout_also_ends_the_wait_for_a_silent_servers_first_answer(CancellationToken ct)
    {
        using var dead = new SilentServer();
        using var dir = new TempDirectory();
        // A deadline far away: what ends each attempt is the 1 s stall timeout, and the retries then give up.
        var (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", dead.Url.ToString(), "--output", dir["fresh"],
            "--stall-timeout", "1", "--timeout", "600"), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.Contain(": no answer within 1 s (the stall timeout)"));
        Assert.That(output, Does.Not.Contain("gave up after 600 s"));
    }

    [Test, CancelAfter(120_000)]
    public async Task Watch_against_a_silent_server_reports_each_check_at_its_deadline_and_goes_on(CancellationToken ct)
    {
        using var dead = new SilentServer();
        using var dir = new TempDirectory();
        var (code, output) = await Task.Run(() => Run("watch", "fleet/tool:stable", "--allow-http", "--server", dead.Url.ToString(), "--output", dir["device"],
            "--timeout", "2", "--interval", "0.1", "--max-checks", "2"), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.Contain("check 1: failed (3): the update of fleet/tool:stable gave up after 2 s: ")
            .And.Contain("check 2: failed (3): the update of fleet/tool:stable gave up after 2 s: "));
    }
}

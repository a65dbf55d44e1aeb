namespace Doras.Tests.EndToEnd;

/// <summary>The `doras` command as a user runs it: a separate process, real files, the real server.</summary>
public class CliTests
{
    private static readonly string Doras = Binaries.Doras;

    /// <summary>Publishes the native `doras` (once per run) before any test starts its clock.</summary>
    [OneTimeSetUp]
    public void PublishTheNativeClient() => Assert.That(File.Exists(Doras), Is.True);

    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run(Doras, args);

    [Test]
    public async Task Push_then_pull_full_then_pull_by_delta()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(2 << 20, 1);
        var v2 = TestData.Edit(v1, 2);

        var (code, output) = Run("push", dir.Write("r1/tool", v1), "fleet/tool:1.0", "--tag", "stable", "--store", server.StorePath);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("pushed fleet/tool@sha256:").And.Contain("as 1.0, stable: file 'tool'"));

        (code, output) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: ").And.Contain("because nothing is installed yet"));

        (code, output) = Run("push", dir.Write("r2/tool", v2), "fleet/tool:1.1", "--tag", "stable", "--store", server.StorePath);
        Assert.That(code, Is.Zero, output);
        (code, output) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: ").And.Contain("% of it)"));
        // The phases in words (stderr follows stdout here); the result line is the last word, not an enum.
        Assert.That(output, Does.Match(@"doras: checking fleet/tool:stable\n[\s\S]*doras: asking the server for a delta\n[\s\S]*doras: applying the delta").And.Not.Contain("doras: done"));
        Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(v2));
    }

    [Test]
    public void Errors_are_one_clear_line_and_a_distinct_exit_code()
    {
        var (code, output) = Run("push", "/nonexistent/file", "Bad:Ref");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage));
        Assert.That(output.Trim(), Does.StartWith("doras: invalid reference 'Bad:Ref'"));
        Assert.That(output.Trim().Split('\n'), Has.Length.EqualTo(1));

        (code, output) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", "http://127.0.0.1:9", "--output", Path.GetTempPath() + "x-" + Guid.NewGuid(), "--json");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network));
        var json = output.Split('\n').Single(l => l.StartsWith('{'));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        Assert.That(doc.RootElement.GetProperty("exitCode").GetInt32(), Is.EqualTo(global::Doras.Cli.ExitCodes.Network));
    }

    [Test, CancelAfter(60_000)]
    public async Task A_stalled_download_exits_3_naming_the_stall(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        await Versions.PublishFileAsync(server.Store.Repository("fleet/tool"), server.Scratch, "tool", TestData.Binary(300_000, 9), "stable");
        await using var proxy = await LoopbackProxy.StartAsync(server.Url, faultsOn: path => path.Contains("/blobs/"));
        proxy.Script(Enumerable.Repeat(Fault.Trickle, 10).ToArray()); // one byte a second, every attempt

        var (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", proxy.Url.ToString(), "--output", dir["device"], "--stall-timeout", "2"), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.Contain("doras: blob ").And.Contain("the transfer stalled: only ").And.Contain("in 2 s (stall timeout)"));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(5), "every attempt was tried, each resuming where the last stopped");
        Assert.That(proxy.FaultBytesSent, Is.InRange(1, 25), "each trickle given up after a few of its bytes (one a second), not waited out");
        Assert.That(proxy.Ranges.Skip(1), Has.All.Match("^bytes=[1-9][0-9]*-$"));
        Assert.That(File.Exists(dir["device/tool"]), Is.False);
    }

    [Test]
    public async Task Pull_reports_json_for_programs()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(300_000, 5);
        await Versions.PublishFileAsync(server.Store.Repository("fleet/tool"), server.Scratch, "tool", v1, "stable");
        var (code, output) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"], "--json");
        Assert.That(code, Is.Zero, output);
        using var doc = System.Text.Json.JsonDocument.Parse(output.Split('\n').Single(l => l.StartsWith('{')));
        Assert.That(doc.RootElement.GetProperty("mode").GetString(), Is.EqualTo("full"));
        Assert.That(doc.RootElement.GetProperty("installed").GetString(), Is.EqualTo(dir["device/tool"]));
        Assert.That(doc.RootElement.GetProperty("contentSize").GetInt64(), Is.EqualTo(v1.Length));
    }

    [Test]
    public async Task Rollback_and_the_data_budget_from_the_command_line()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/tool");
        var v1 = TestData.Binary(300_000, 21);
        await Versions.PublishFileAsync(repository, server.Scratch, "tool", v1, "stable");
        string[] pull = ["pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"], "--keep-previous"];
        Assert.That(Run(pull).Code, Is.Zero);
        var v2 = TestData.Edit(v1, 22);
        await Versions.PublishFileAsync(repository, server.Scratch, "tool", v2, "stable");
        Assert.That(Run(pull).Code, Is.Zero);
        Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(v2));

        var (code, output) = Run("rollback", "--output", dir["device"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith($"rolled back: {dir["device/tool"]} is sha256:"));
        Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(v1));

        (code, output) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["other"], "--max-bytes-per-period", "1000");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.OverDataBudget), output);
        Assert.That(output, Does.Contain("doras: downloading the full tool (").And.Contain("bytes) would exceed the data budget of 1000 bytes per 24 h: 0 bytes were downloaded in the last 24 h, and it is larger than the whole budget"));
        Assert.That(Directory.Exists(dir["other"]), Is.False);
    }

    [Test]
    public async Task Watch_mode_updates_when_a_new_version_appears_and_runs_the_hook()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/tool");
        var v1 = TestData.Binary(500_000, 6);
        await Versions.PublishFileAsync(repository, server.Scratch, "tool", v1, "stable");
        var marker = dir["hook.log"];
        string[] lines;
        await using (var watch = ExternalTool.Start(Doras,
            ["watch", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"], "--interval", "0.3", "--jitter", "0.5", "--json",
             "--on-update", $"echo \"$DORAS_MODE $DORAS_MANIFEST\" >> {marker}"]))
        {
            await WaitUntilAsync(() => File.Exists(marker) && File.ReadAllText(marker).Contains("full"));
            var v2 = TestData.Edit(v1, 7);
            var v2Manifest = await Versions.PublishFileAsync(repository, server.Scratch, "tool", v2, "stable");
            await WaitUntilAsync(() => File.ReadAllText(marker).Contains($"delta {v2Manifest.Digest}"));
            Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(v2));
            // The next check after the delta finds nothing new.
            await WaitUntilAsync(() =>
            {
                var text = watch.Stdout;
                var afterDelta = text.IndexOf("\"delta\"", StringComparison.Ordinal);
                return afterDelta >= 0 && text.IndexOf("\"uptodate\"", afterDelta, StringComparison.Ordinal) >= 0;
            });
            await watch.KillAsync(); // then reads what it wrote
            lines = watch.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        var modes = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("mode").GetString()).ToList();
        Assert.That(modes, Does.Contain("full").And.Contain("delta").And.Contain("uptodate"));
        Assert.That(lines.First(l => l.Contains("\"delta\"")), Does.Contain("on-update exited 0"));
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what = "the watched condition") =>
        Eventually.UntilAsync(condition, TimeSpan.FromSeconds(60), what);

    [Test]
    public void Demo_runs_end_to_end_on_given_versions()
    {
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(3 << 20, 3);
        var (code, output) = ExternalTool.Run("dotnet", [Binaries.Demo, "--from", dir.Write("v1", v1), "--to", dir.Write("v2", TestData.Edit(v1, 4))]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("delta update: ").And.Contain("device file == version 2 byte for byte: yes"));
        // Every step is told, and the end is quiet: no traces of background services cancelled by disposal.
        Assert.That(output, Does.Contain("demo:   device: asking the server for a delta").And.Contain("demo: publishing version v2"));
        Assert.That(output, Does.Not.Contain("Exception").And.Not.Contain("BackgroundService failed"));
    }
}

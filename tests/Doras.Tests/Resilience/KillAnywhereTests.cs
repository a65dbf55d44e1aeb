using System.Diagnostics;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;

namespace Doras.Tests.Resilience;

/// <summary>
/// The edge client is SIGKILLed at random points of a real update, again and again; a watcher reads the
/// installed file all the while. It must only ever see exactly the old or exactly the new version, and a rerun
/// must converge to the new one.
/// </summary>
public class KillAnywhereTests
{
    private static readonly string Doras = Binaries.Doras;

    [Test]
    public async Task Killed_at_random_points_an_update_never_leaves_a_mixed_or_missing_file_and_converges()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(8 << 20, 1);
        var v2 = TestData.Edit(v1, 2, edits: 60);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "stable");
        string[] pull = ["pull", "fleet/app:stable", "--allow-http", "--server", server.Url.ToString(), "--output", device["app"]];
        Assert.That(ExternalTool.Run(Doras, pull).ExitCode, Is.Zero);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "stable");

        var installed = device["app/app.bin"];
        var versions = new List<byte[]> { v1, v2 };
        var random = new Random(20261122);
        int observations = 0, killed = 0;
        for (var round = 0; round < 10; round++)
        {
            // Always give the client real work: once it has caught up, publish the next version.
            if (File.ReadAllBytes(installed).AsSpan().SequenceEqual(versions[^1]))
            {
                versions.Add(TestData.Edit(versions[^1], 100 + round, edits: 60));
                await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", versions[^1], "stable");
            }
            await using var process = ExternalTool.Start(Doras, pull);
            var killAt = TimeSpan.FromMilliseconds(random.Next(300, 3000));
            var watch = Stopwatch.StartNew();
            while (!process.HasExited && watch.Elapsed < killAt)
            {
                observations += CheckIsOneVersion(installed, versions, $"round {round}, {watch.ElapsedMilliseconds} ms");
                await Task.Delay(5);
            }
            if (!process.HasExited)
            {
                process.Kill(); // SIGKILL to its process tree: no cleanup of any kind
                killed++;
            }
            Assert.That(await process.WaitForExitAsync(TimeSpan.FromMinutes(2)), Is.True, $"doras did not exit in round {round}");
            observations += CheckIsOneVersion(installed, versions, $"after the kill in round {round}");
        }
        TestContext.Out.WriteLine($"{killed} of 10 runs killed mid-update, {versions.Count} versions, {observations} observations of the installed file");

        var (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(installed), Is.EqualTo(versions[^1]));
        Assert.That(killed, Is.GreaterThanOrEqualTo(5), "most runs must really be interrupted, or the test proves little");
        var work = device[".app.doras"];
        Assert.That(Directory.GetFiles(work, "staging-*"), Is.Empty);
        Assert.That(Directory.GetFiles(work, "download-*"), Is.Empty, "nothing is left once the update is done");
    }

    private static int CheckIsOneVersion(string path, List<byte[]> versions, string when)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { Assert.Fail($"the installed file was missing {when}"); return 0; }
        Assert.That(versions.Any(v => bytes.AsSpan().SequenceEqual(v)), Is.True, $"the installed file was none of the published versions {when}");
        return 1;
    }

    [Test]
    public async Task An_update_that_would_not_fit_is_refused_up_front_naming_the_bytes()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var v1 = TestData.Binary(1 << 20, 3);
        await Versions.PublishFileAsync(server.Store.Repository("fleet/app"), server.Scratch, "app.bin", v1, "stable");
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/app:stable", Output = device["app"], ReserveBytes = long.MaxValue / 2 };
        var error = (await Assert.ThrowsAsync<InsufficientStorageException>(() => updater.UpdateAsync(options)))!;
        Assert.That(error.Message, Does.Match(@"^the update needs \d+ bytes in .*\.app\.doras \(download, staging, and \d+ bytes kept free\), but only \d+ bytes are free$"));
        Assert.That(Directory.Exists(device["app"]), Is.False, "nothing was installed or downloaded");
    }
}

using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;

namespace Doras.Tests.Resilience;

/// <summary>What a killed update leaves in the work directory goes once the next run finds the device up to date.</summary>
public class LeftoverTests
{
    [Test, CancelAfter(60_000)]
    public async Task Partial_downloads_staging_trees_and_stale_bases_go_when_the_next_run_is_up_to_date(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        await Versions.PublishFileAsync(server.Store.Repository("fleet/tool"), server.Scratch, "tool", TestData.Binary(100_000, 51), "stable");
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/tool:stable", Output = device["app"] };
        Assert.That((await updater.UpdateAsync(options, ct)).Mode, Is.EqualTo(UpdateMode.Full));

        var work = device[".app.doras"];
        string[] leftovers = ["download-sha256-" + new string('a', 64) + ".partial", "download-sha256-" + new string('b', 64), "staging-0123", "base-sha256-" + new string('c', 64)];
        foreach (var name in leftovers) File.WriteAllBytes(Path.Combine(work, name), [1, 2, 3]);
        Directory.CreateDirectory(Path.Combine(work, "tree-0123", "sub"));

        Assert.That((await updater.UpdateAsync(options, ct)).Mode, Is.EqualTo(UpdateMode.UpToDate));
        Assert.That(Directory.GetFileSystemEntries(work).Select(Path.GetFileName), Is.EquivalentTo(new[] { "state.json", "lock", ".doras-work" }));
    }
}

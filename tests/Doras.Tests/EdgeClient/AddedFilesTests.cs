using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;

namespace Doras.Tests.EdgeClient;

/// <summary>A file someone adds inside an installed directory is theirs: never deleted by an update without --replace-existing.</summary>
public class AddedFilesTests
{
    [Test, CancelAfter(60_000)]
    public async Task An_update_that_would_delete_an_added_file_is_refused_and_replace_existing_allows_it(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        var repository = server.Store.Repository("fleet/site");
        server.Scratch.Write("release/site/index.html", "v1"u8.ToArray());
        server.Scratch.Write("release/site/lib/app.js", "app v1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, server.Scratch["release/site"], ["stable"], ct: ct);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/site:stable", Output = device["www/site"] };
        await updater.UpdateAsync(options, ct);

        File.WriteAllText(device["www/site/lib/notes.txt"], "mine");
        server.Scratch.Write("release/site/index.html", "v2"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, server.Scratch["release/site"], ["stable"], ct: ct);
        var before = TreeSnapshot.Take(device["www/site"], times: true);

        var error = (await Assert.ThrowsAsync<ExistingContentException>(() => updater.UpdateAsync(options, ct)))!;
        Assert.That(error.Message, Is.EqualTo($"{device["www/site/lib/notes.txt"]} was added inside {device["www/site"]} after doras installed it; an update replaces the whole directory, " +
            "so it is left untouched. Move such files beside the output, or pass --replace-existing (UpdateOptions.ReplaceExisting) to replace the directory and lose them"));
        Assert.That(global::Doras.Cli.ExitCodes.For(error), Is.EqualTo(global::Doras.Cli.ExitCodes.Usage));
        Assert.That(TreeSnapshot.Take(device["www/site"], times: true), Is.EqualTo(before), "nothing was touched");

        var result = await updater.UpdateAsync(options with { ReplaceExisting = true }, ct);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v2"));
        Assert.That(File.Exists(device["www/site/lib/notes.txt"]), Is.False);
    }

    [Test, CancelAfter(60_000)]
    public async Task A_changed_installed_file_is_put_right_by_the_next_update_without_a_flag(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        var repository = server.Store.Repository("fleet/site");
        server.Scratch.Write("release/site/index.html", "v1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, server.Scratch["release/site"], ["stable"], ct: ct);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/site:stable", Output = device["www/site"] };
        await updater.UpdateAsync(options, ct);

        File.WriteAllText(device["www/site/index.html"], "edited"); // doras's own file: the update restores it
        server.Scratch.Write("release/site/index.html", "v2"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, server.Scratch["release/site"], ["stable"], ct: ct);
        var result = await updater.UpdateAsync(options, ct);
        Assert.That(result.FallbackReason, Is.EqualTo($"the installed directory {device["www/site"]} was changed locally"));
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v2"));
    }
}

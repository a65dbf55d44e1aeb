using System.Diagnostics;
using System.Formats.Tar;
using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Delta.Zstd;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Resilience;

public class DirectoryResilienceTests
{
    private static readonly string Doras = Binaries.Doras;

    /// <summary>Publishes a tar made by hand, as release tooling would publish a directory, so tests can publish what push refuses.</summary>
    internal static async Task PublishTarAsync(IOciRepository repository, byte[] content, string title, string tag)
    {
        var compressed = new MemoryStream();
        await using (var encoder = new ZstdEncoderStream(compressed, new ZstdCompressionOptions { Level = 3 }, leaveOpen: true))
            await encoder.WriteAsync(content);
        var layerBytes = compressed.ToArray();
        var layer = Descriptor.FromBytes(MediaTypes.LayerTarZstd, layerBytes) with
        {
            Annotations = new Dictionary<string, string>
            {
                [Annotations.Title] = title, [Annotations.OrasUnpack] = "true",
                [DorasAnnotations.ContentDigest] = Digest.Compute(content).ToString(), [DorasAnnotations.ContentSize] = content.Length.ToString(),
            },
        };
        await repository.PushAsync(layer, new MemoryStream(layerBytes));
        await repository.PushManifestAsync(new ImageManifest { ArtifactType = DorasMediaTypes.Artifact, Config = Descriptor.EmptyJson, Layers = [layer] }, [tag]);
    }

    [Test]
    public async Task A_hostile_archive_in_an_update_is_refused_and_nothing_is_written_outside()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var repository = server.Store.Repository("fleet/site");
        var tree = server.Scratch["release/site"];
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "index.html"), "v1");
        await ArtifactPublisher.PublishAsync(repository, tree, ["stable"]);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/site:stable", Output = device["www/site"] };
        await updater.UpdateAsync(options);

        // A "new version" whose tar climbs out of the target directory.
        var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, leaveOpen: true))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "index.html") { DataStream = new MemoryStream("v2"u8.ToArray()) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "../../evil.sh") { DataStream = new MemoryStream("rm -rf /"u8.ToArray()) });
        }
        var content = tar.ToArray();
        await PublishTarAsync(repository, content, "site", "stable");

        var downloads = new List<long>();
        var watched = new Updater(LoopbackDeltaClient.Create(server.Url))
        {
            Progress = new SynchronousProgress<UpdateProgress>(p =>
            {
                if (p.Phase == UpdatePhase.Downloading && p.Total is { } total && p.Bytes >= total) lock (downloads) downloads.Add(total);
            }),
        };
        var error = (await Assert.ThrowsAsync<HostileArchiveException>(() => watched.UpdateAsync(options)))!;
        Assert.That(error.Message, Is.EqualTo("tar entry '../../evil.sh' leads outside the target directory ('..')"));
        Assert.That(downloads, Has.Count.EqualTo(1), "the delta only: a hostile target is not downloaded again in full");
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v1"), "the installed version is untouched");
        Assert.That(Directory.GetFiles(device.Path, "evil.sh", SearchOption.AllDirectories), Is.Empty);
        Assert.That(Directory.GetDirectories(device["www/.site.doras"], "tree-*"), Is.Empty);
    }

    [Test]
    public async Task A_symlink_chain_in_an_update_is_refused_and_the_installation_is_not_chmodded_through_it()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var repository = server.Store.Repository("fleet/site");
        var release = server.Scratch["release/site"];
        server.Scratch.Write("release/site/index.html", "v1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, release, ["stable"]);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/site:stable", Output = device["www/site"] };
        await updater.UpdateAsync(options);
        var installed = TreeSnapshot.Take(device["www/site"], times: true);

        // The tree is extracted at www/.site.doras/tree-…: d/d/d/../../../site is the installed directory.
        var content = new RawTar()
            .File("index.html", "v2")
            .Symlink("d", ".")
            .Symlink("x", "d/d/d/../../../site")
            .Directory("x/", "777")
            .ToStream().ToArray();
        await PublishTarAsync(repository, content, "site", "stable");

        var error = (await Assert.ThrowsAsync<HostileArchiveException>(() => updater.UpdateAsync(options)))!;
        Assert.That(error.Message, Is.EqualTo("tar entry 'x' is a symlink that leads outside the target directory ('d/d/d/../../../site')"));
        Assert.That(TreeSnapshot.Take(device["www/site"], times: true), Is.EqualTo(installed), "the installation is untouched, its mode too");
        Assert.That(Directory.GetDirectories(device["www/.site.doras"], "tree-*"), Is.Empty);
    }

    [Test]
    public async Task A_published_tree_with_a_linked_directory_and_a_dangling_link_installs_and_updates()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var repository = server.Store.Repository("fleet/links");
        var tree = server.Scratch["release/links"];
        server.Scratch.Write("release/links/lib/v1/tool", "v1"u8.ToArray());
        File.CreateSymbolicLink(Path.Combine(tree, "current"), "lib/v1");      // a linked directory
        File.CreateSymbolicLink(Path.Combine(tree, "dangling"), "not/yet");    // a dangling link
        File.CreateSymbolicLink(Path.Combine(tree, "loop"), ".");              // a directory link to itself
        await ArtifactPublisher.PublishAsync(repository, tree, ["stable"]);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/links:stable", Output = device["www/links"] };
        await updater.UpdateAsync(options);
        Assert.That(TreeSnapshot.Take(device["www/links"]).Where(e => e.Key != "."), Is.EqualTo(TreeSnapshot.Take(tree).Where(e => e.Key != ".")));

        server.Scratch.Write("release/links/lib/v1/tool", "v2"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, tree, ["stable"]);
        await updater.UpdateAsync(options);
        Assert.That(File.ReadAllText(device["www/links/current/tool"]), Is.EqualTo("v2"));
        Assert.That(new FileInfo(device["www/links/dangling"]).LinkTarget, Is.EqualTo("not/yet"));
    }

    [Test]
    public async Task A_swap_cut_between_its_two_renames_is_put_back_at_the_next_start()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var repository = server.Store.Repository("fleet/site");
        server.Scratch.Write("release/site/index.html", "v1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(repository, server.Scratch["release/site"], ["stable"]);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/site:stable", Output = device["www/site"] };
        await updater.UpdateAsync(options);
        var installed = TreeSnapshot.Take(device["www/site"], times: true);

        // Where there is no atomic exchange: the old tree moved aside, the journal naming a version never put in place.
        var work = device["www/.site.doras"];
        Directory.Move(device["www/site"], Path.Combine(work, "aside"));
        var state = File.ReadAllText(Path.Combine(work, "state.json"));
        File.WriteAllText(Path.Combine(work, "journal.json"), state.Replace("\"treeDigest\": \"", "\"treeDigest\": \"x"));

        var result = await updater.UpdateAsync(options);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.UpToDate));
        Assert.That(TreeSnapshot.Take(device["www/site"], times: true), Is.EqualTo(installed), "the old version is back, untouched");
        Assert.That(Directory.Exists(Path.Combine(work, "aside")), Is.False);
        Assert.That(File.Exists(Path.Combine(work, "journal.json")), Is.False);
    }

    [Test]
    public async Task A_directory_killed_mid_update_is_never_missing_and_is_always_exactly_one_version()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        var repository = server.Store.Repository("fleet/bundle");
        var versions = new List<Dictionary<string, byte[]>>();
        async Task PublishAsync(int seed)
        {
            var files = Enumerable.Range(0, 12).ToDictionary(i => $"lib/part{i}.bin", i => TestData.Edit(TestData.Binary(400_000, i), seed * 100 + i));
            var root = server.Scratch[$"release-{seed}/bundle"];
            foreach (var (name, bytes) in files) server.Scratch.Write($"release-{seed}/bundle/{name}", bytes);
            await ArtifactPublisher.PublishAsync(repository, root, ["stable"], new PublishOptions { Level = 3 });
            versions.Add(files);
        }
        await PublishAsync(1);
        var output = device["bundle"];
        string[] pull = ["pull", "fleet/bundle:stable", "--allow-http", "--server", server.Url.ToString(), "--output", output];
        Assert.That(ExternalTool.Run(Doras, pull).ExitCode, Is.Zero);

        var random = new Random(7);
        var killed = 0;
        for (var round = 0; round < 6; round++)
        {
            if (IsVersion(output, versions[^1])) await PublishAsync(round + 2);
            await using var process = ExternalTool.Start(Doras, pull);
            var killAt = TimeSpan.FromMilliseconds(random.Next(300, 3000));
            var watch = Stopwatch.StartNew();
            while (!process.HasExited && watch.Elapsed < killAt)
            {
                Assert.That(Directory.Exists(output), Is.True, $"the installed directory was missing in round {round} at {watch.ElapsedMilliseconds} ms");
                await Task.Delay(2);
            }
            if (!process.HasExited) { process.Kill(); killed++; }
            Assert.That(await process.WaitForExitAsync(TimeSpan.FromMinutes(2)), Is.True, $"doras did not exit in round {round}");
            Assert.That(versions.Any(v => IsVersion(output, v)), Is.True, $"after round {round} the directory is not exactly one version");
        }
        var (code, text) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.Zero, text);
        Assert.That(IsVersion(output, versions[^1]), Is.True);
        TestContext.Out.WriteLine($"{killed} of 6 runs killed, {versions.Count} versions");
        Assert.That(killed, Is.GreaterThanOrEqualTo(3));
    }

    private static bool IsVersion(string directory, Dictionary<string, byte[]> files)
    {
        var present = Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(directory, f)).Order().ToList();
        return present.SequenceEqual(files.Keys.Order()) && files.All(f => File.ReadAllBytes(Path.Combine(directory, f.Key)).AsSpan().SequenceEqual(f.Value));
    }
}

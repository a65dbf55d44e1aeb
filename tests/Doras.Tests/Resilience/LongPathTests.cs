using System.Runtime.Versioning;
using Doras.Delta.Artifacts;

namespace Doras.Tests.Resilience;

/// <summary>
/// Paths at and past Linux's limits (PATH_MAX 4,095 bytes, NAME_MAX 255): an archive that names one is refused as
/// hostile (exit 4) with the installed version untouched, and nothing it leaves can block the next update.
/// </summary>
[SupportedOSPlatform("linux")]
public class LongPathTests
{
    private static readonly string Doras = Binaries.Doras;

    /// <summary>16 names of 255 characters: a path of exactly 4,095, which fits no directory beneath the root.</summary>
    private static readonly string LongestPath = string.Join('/', Enumerable.Range(0, 16).Select(i => new string((char)('a' + i), 255)));

    private static async Task<(RunningServer Server, TempDirectory Device, string[] Pull)> InstalledAsync(string repositoryName)
    {
        var server = await RunningServer.StartAsync();
        var device = new TempDirectory();
        server.Scratch.Write("release/site/index.html", "v1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(server.Store.Repository(repositoryName), server.Scratch["release/site"], ["stable"]);
        string[] pull = ["pull", $"{repositoryName}:stable", "--allow-http", "--server", server.Url.ToString(), "--output", device["www/site"]];
        var (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.Zero, output);
        return (server, device, pull);
    }

    private static async Task PublishV2Async(RunningServer server, string repositoryName)
    {
        server.Scratch.Write("release/site/index.html", "v2"u8.ToArray());
        await ArtifactPublisher.PublishAsync(server.Store.Repository(repositoryName), server.Scratch["release/site"], ["stable"]);
    }

    [Test, CancelAfter(120_000)]
    public async Task A_path_of_4095_characters_is_refused_as_hostile_and_the_next_good_update_installs(CancellationToken ct)
    {
        var (server, device, pull) = await InstalledAsync("fleet/site");
        await using var _ = server;
        using var __ = device;
        var installed = TreeSnapshot.Take(device["www/site"], times: true);

        var tar = new RawTar().File("index.html", "v2").File(LongestPath, "deep").ToStream().ToArray();
        await DirectoryResilienceTests.PublishTarAsync(server.Store.Repository("fleet/site"), tar, "site", "stable");
        var (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.EqualTo(4), output);
        Assert.That(output, Does.Contain("names a path of 4095 bytes, which under ").And.Contain("would pass Linux's limit of 4095 (PATH_MAX)"));
        Assert.That(TreeSnapshot.Take(device["www/site"], times: true), Is.EqualTo(installed), "the installed version is untouched");
        Assert.That(Directory.GetDirectories(device["www/.site.doras"], "tree-*"), Is.Empty);
        Assert.That(Directory.GetFiles(device["www/.site.doras"], "download-*"), Is.Empty, "the refused download is removed at once");

        await PublishV2Async(server, "fleet/site");
        (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v2"));
    }

    [Test, CancelAfter(120_000)]
    public async Task A_name_over_255_bytes_is_refused_as_hostile(CancellationToken ct)
    {
        var (server, device, pull) = await InstalledAsync("fleet/site");
        await using var _ = server;
        using var __ = device;

        var tar = new RawTar().File("index.html", "v2").File("dir/" + new string('n', 256), "long").ToStream().ToArray();
        await DirectoryResilienceTests.PublishTarAsync(server.Store.Repository("fleet/site"), tar, "site", "stable");
        var (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.EqualTo(4), output);
        Assert.That(output, Does.Contain("has a name of 256 bytes, over the 255 a file system allows (NAME_MAX)"));
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v1"));
    }

    [Test, CancelAfter(120_000)]
    public async Task A_staging_tree_deeper_than_PATH_MAX_left_by_an_earlier_run_is_removed_and_blocks_nothing(CancellationToken ct)
    {
        var (server, device, pull) = await InstalledAsync("fleet/site");
        await using var _ = server;
        using var __ = device;

        // What an older client left: a tree whose deepest file lies 5,100 bytes below the work directory.
        var leftover = Path.Combine(device["www/.site.doras"], "tree-0123456789abcdef");
        var deep = Enumerable.Range(0, 20).Select(i => new string((char)('a' + i), 254)).ToArray();
        using (var tree = BeneathDirectory.Open(leftover))
        {
            tree.CreateFile([.. deep, "file"], "test file").Dispose();
            tree.CreateDirectory([.. deep[..3], "locked"], "test directory").Dispose();
        }
        File.SetUnixFileMode(Path.Combine(leftover, deep[0], deep[1], deep[2], "locked"), UnixFileMode.None);

        await PublishV2Async(server, "fleet/site");
        var (code, output) = ExternalTool.Run(Doras, pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllText(device["www/site/index.html"]), Is.EqualTo("v2"));
        Assert.That(Directory.Exists(leftover), Is.False, "the leftover is gone");
    }

    [Test]
    public void DeleteTree_removes_a_tree_of_any_depth_and_never_follows_a_link()
    {
        using var scratch = new TempDirectory();
        var outside = scratch.Write("outside/keep.txt", "mine"u8.ToArray());
        var root = scratch["tree"];
        var deep = Enumerable.Range(0, 24).Select(i => new string('d', 200)).ToArray();
        using (var tree = BeneathDirectory.Open(root))
        {
            tree.CreateFile([.. deep, "f"], "test").Dispose();
            tree.CreateSymlink([.. deep[..2], "out"], Path.GetDirectoryName(outside)!, "test");
        }
        BeneathDirectory.DeleteTree(root);
        Assert.That(Directory.Exists(root), Is.False);
        Assert.That(File.ReadAllText(outside), Is.EqualTo("mine"), "the link was removed, not followed");
        Assert.DoesNotThrow(() => BeneathDirectory.DeleteTree(root), "an absent tree is nothing to do");
    }
}

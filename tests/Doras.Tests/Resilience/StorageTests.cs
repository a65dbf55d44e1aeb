using System.Diagnostics;
using Doras.Delta.Artifacts;

namespace Doras.Tests.Resilience;

/// <summary>Free space as the filesystem counts it: many small files take whole blocks each. On a real small tmpfs (needs root).</summary>
[NonParallelizable]
public class StorageTests
{
    [Test, CancelAfter(120_000)]
    public async Task A_tree_of_many_small_files_that_would_not_fit_once_extracted_exits_5_before_extraction(CancellationToken ct)
    {
        using var dir = new TempDirectory();
        var small = dir["tmpfs"];
        Directory.CreateDirectory(small);
        using (var mount = Process.Start("mount", ["-t", "tmpfs", "-o", "size=10m", "tmpfs", small]))
        {
            await mount.WaitForExitAsync(ct);
            Assume.That(mount.ExitCode, Is.Zero, "mounting a tmpfs needs root");
        }
        try
        {
            await using var server = await RunningServer.StartAsync();
            var tree = server.Scratch["release/site"];
            Directory.CreateDirectory(tree);
            for (var i = 0; i < 2000; i++) File.WriteAllBytes(Path.Combine(tree, $"f{i}"), TestData.Binary(100, i));
            await ArtifactPublisher.PublishAsync(server.Store.Repository("fleet/site"), tree, ["stable"], ct: ct);

            // 4 MiB of tar fits the up-front check; 2000 files of 100 bytes take 2000 blocks of 4 KiB once extracted.
            var (code, output) = await Task.Run(() => ExternalTool.Run(Binaries.Doras, ["pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", Path.Combine(small, "site")]), ct);
            Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Storage), output);
            Assert.That(output, Does.Contain("doras: the update needs ").And.Contain("(extracting site (files rounded up to 4096-byte blocks), and 0 bytes kept free), but only"));
            Assert.That(Directory.Exists(Path.Combine(small, "site")), Is.False);
        }
        finally
        {
            using var umount = Process.Start("umount", ["-l", small]);
            await umount.WaitForExitAsync(CancellationToken.None);
        }
    }
}

using System.Diagnostics;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Updates;

namespace Doras.Tests.Resilience;

/// <summary>Free space as the filesystem counts it: many small files take whole blocks each. On a real small tmpfs (needs root).</summary>
[NonParallelizable]
public class StorageTests
{
    [Test, CancelAfter(120_000)]
    public async Task A_tree_of_many_small_files_that_would_not_fit_once_extracted_exits_5_before_extraction(CancellationToken ct)
    {
        using var dir = new TempDirectory();
        await using var tmpfs = await SmallTmpfs.MountAsync(dir["tmpfs"], "10m", ct);
        var small = tmpfs.Path;
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
    }
}

/// <summary><c>--reserve-bytes</c> holds while the update writes, not only when it starts (a real small tmpfs; needs root).</summary>
[NonParallelizable]
public class ReserveWhileWritingTests
{
    [Test, CancelAfter(120_000)]
    public async Task Free_space_falling_below_the_reserve_mid_update_stops_it_with_the_installed_version_and_no_files_left(CancellationToken ct)
    {
        using var dir = new TempDirectory();
        await using var tmpfs = await SmallTmpfs.MountAsync(dir["tmpfs"], "48m", ct);
        var small = tmpfs.Path;
        {
            await using var server = await RunningServer.StartAsync();
            var repository = server.Store.Repository("fleet/tool");
            var v1 = TestData.Binary(2 << 20, 61);
            await Versions.PublishFileAsync(repository, server.Scratch, "tool", v1, "stable");
            var options = new UpdateOptions { Reference = "fleet/tool:stable", Output = Path.Combine(small, "app"), ReserveBytes = 16 << 20 };
            Assert.That((await new Updater(LoopbackDeltaClient.Create(server.Url)).UpdateAsync(options, ct)).Mode, Is.EqualTo(UpdateMode.Full));
            await Versions.PublishFileAsync(repository, server.Scratch, "tool", TestData.Edit(v1, 62), "stable");

            // Another program fills the disk as the delta is being applied: 32 MiB of the 46 free leaves less than the 16 MiB reserve.
            var log = new BreachLog();
            var filler = Path.Combine(small, "filler");
            var progress = new Watcher(phase =>
            {
                if (phase != UpdatePhase.Applying) return;
                File.WriteAllBytes(filler, new byte[32 << 20]);
                Assert.That(log.Breached.Wait(TimeSpan.FromSeconds(30)), Is.True, "the reserve watch saw free space fall below the reserve");
            });
            var updater = new Updater(LoopbackDeltaClient.Create(server.Url), logger: log) { Progress = progress };
            var error = (await Assert.ThrowsAsync<InsufficientStorageException>(() => updater.UpdateAsync(options, ct)))!;
            Assert.That(error.Message, Does.StartWith($"free space in {Path.Combine(small, ".app.doras")} fell to ")
                .And.EndWith($"bytes while updating, below the {16 << 20} bytes kept free (--reserve-bytes); the update was stopped and its files removed"));
            Assert.That(File.ReadAllBytes(Path.Combine(small, "app", "tool")), Is.EqualTo(v1), "the installed version is untouched");
            Assert.That(Directory.GetFiles(Path.Combine(small, ".app.doras")).Select(Path.GetFileName), Is.EquivalentTo(new[] { "state.json", "lock", ".doras-work" }),
                "no download or staging file is left");
            Assert.That(global::Doras.Cli.ExitCodes.For(error), Is.EqualTo(global::Doras.Cli.ExitCodes.Storage));
        }
    }

    private sealed class Watcher(Action<UpdatePhase> onPhase) : IProgress<UpdateProgress>
    {
        public void Report(UpdateProgress value) => onPhase(value.Phase);
    }

    private sealed class BreachLog : Microsoft.Extensions.Logging.ILogger<Updater>
    {
        public ManualResetEventSlim Breached { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (formatter(state, exception).Contains("below the")) Breached.Set();
        }
    }
}

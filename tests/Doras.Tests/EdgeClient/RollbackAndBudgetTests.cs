using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;

namespace Doras.Tests.EdgeClient;

/// <summary>Keeping the replaced version for rollback, and the data budget of metered links, against the real server.</summary>
public class RollbackAndBudgetTests
{
    private const string Repo = "fleet/app";
    private RunningServer _server = null!;
    private TempDirectory _device = null!;
    private HttpClient _http = null!;
    private IOciRepository _repository = null!;
    private ManualClock _clock = null!;
    private Updater _updater = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = await RunningServer.StartAsync();
        _device = new TempDirectory();
        _http = new HttpClient();
        _repository = _server.Store.Repository(Repo);
        _clock = new ManualClock();
        _updater = new Updater(LoopbackDeltaClient.Create(_server.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) })) { Time = _clock };
    }

    [TearDown]
    public async Task TearDown()
    {
        _http.Dispose();
        _device.Dispose();
        await _server.DisposeAsync();
    }

    private UpdateOptions Options(string output, bool keep = true, DataBudgetOptions? budget = null) =>
        new() { Reference = $"{Repo}:stable", Output = output, KeepPrevious = keep, DataBudget = budget, Attempts = 1 };

    private string Work(string output) => Path.Combine(Path.GetDirectoryName(output)!, "." + Path.GetFileName(output) + ".doras");

    [Test]
    public async Task A_file_rolls_back_to_the_kept_version_and_forward_again()
    {
        var v1 = TestData.Binary(1 << 20, 1);
        var v2 = TestData.Edit(v1, 2);
        var output = _device["opt"];
        var m1 = await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "stable");
        await _updater.UpdateAsync(Options(output));
        var m2 = await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        Assert.That((await _updater.UpdateAsync(Options(output))).Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(Path.Combine(Work(output), "previous", "app.bin")), Is.EqualTo(v1));

        var back = await _updater.RollbackAsync(Options(output));
        Assert.That(back.Mode, Is.EqualTo(UpdateMode.RolledBack));
        Assert.That(back.ManifestDigest, Is.EqualTo(m1.Digest.ToString()));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v1));
        Assert.That(InstallState.Load(Path.Combine(Work(output), "state.json"))!.ManifestDigest, Is.EqualTo(m1.Digest.ToString()));

        var forward = await _updater.RollbackAsync(Options(output));
        Assert.That(forward.ManifestDigest, Is.EqualTo(m2.Digest.ToString()));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v2));

        // Rolled back again, the next update returns to the tag's version by delta from the restored one.
        await _updater.RollbackAsync(Options(output));
        var again = await _updater.UpdateAsync(Options(output));
        Assert.That(again.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v2));
    }

    [Test]
    public async Task A_directory_rolls_back_exactly_and_updates_by_delta_afterwards()
    {
        var tree = _server.Scratch["release/site"];
        var tool = TestData.Binary(1 << 20, 3);
        _server.Scratch.Write("release/site/bin/tool", tool);
        _server.Scratch.Write("release/site/README", "version 1"u8.ToArray());
        await ArtifactPublisher.PublishAsync(_repository, tree, ["stable"]);
        var output = _device["site"];
        await _updater.UpdateAsync(Options(output));

        File.WriteAllBytes(Path.Combine(tree, "bin/tool"), TestData.Edit(tool, 4));
        File.WriteAllText(Path.Combine(tree, "README"), "version 2");
        File.WriteAllText(Path.Combine(tree, "NEWS"), "new in 2");
        await ArtifactPublisher.PublishAsync(_repository, tree, ["stable"]);
        Assert.That((await _updater.UpdateAsync(Options(output))).Mode, Is.EqualTo(UpdateMode.Delta));

        await _updater.RollbackAsync(Options(output));
        Assert.That(Directory.GetFiles(output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(output, f)).Order(),
            Is.EqualTo(new[] { "README", "bin/tool" }));
        Assert.That(File.ReadAllText(Path.Combine(output, "README")), Is.EqualTo("version 1"));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "bin/tool")), Is.EqualTo(tool));

        var update = await _updater.UpdateAsync(Options(output));
        Assert.That(update.Mode, Is.EqualTo(UpdateMode.Delta), update.FallbackReason);
        Assert.That(File.ReadAllText(Path.Combine(output, "NEWS")), Is.EqualTo("new in 2"));
    }

    [Test]
    public async Task Rollback_refuses_when_nothing_is_kept_or_the_kept_version_is_damaged()
    {
        var v1 = TestData.Binary(200_000, 5);
        var output = _device["opt"];
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "stable");
        await _updater.UpdateAsync(Options(output));
        var none = (await Assert.ThrowsAsync<InvalidOperationException>(() => _updater.RollbackAsync(Options(output))))!;
        Assert.That(none.Message, Is.EqualTo($"no previous version of {output} is kept (updates keep one with KeepPrevious, --keep-previous)"));

        var v2 = TestData.Edit(v1, 6);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        await _updater.UpdateAsync(Options(output));
        var kept = Path.Combine(Work(output), "previous", "app.bin");
        File.Delete(kept); // a hard link: write a damaged copy without touching anything else
        File.WriteAllBytes(kept, TestData.Edit(v1, 7));
        var damaged = (await Assert.ThrowsAsync<InvalidDataException>(() => _updater.RollbackAsync(Options(output))))!;
        Assert.That(damaged.Message, Does.StartWith("the kept previous version sha256:").And.EndWith("was changed locally); it was removed"));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v2), "the installed version is untouched");
        Assert.That(Directory.Exists(Path.Combine(Work(output), "previous")), Is.False);
    }

    [Test]
    public async Task Updating_without_keep_removes_an_older_kept_version()
    {
        var v1 = TestData.Binary(200_000, 8);
        var output = _device["opt"];
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "stable");
        await _updater.UpdateAsync(Options(output));
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", TestData.Edit(v1, 9), "stable");
        await _updater.UpdateAsync(Options(output));
        Assert.That(File.Exists(Path.Combine(Work(output), "previous.json")), Is.True);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", TestData.Edit(v1, 10), "stable");
        await _updater.UpdateAsync(Options(output, keep: false));
        Assert.That(File.Exists(Path.Combine(Work(output), "previous.json")), Is.False);
        Assert.That(Directory.Exists(Path.Combine(Work(output), "previous")), Is.False);
    }

    [Test]
    public async Task The_data_budget_refuses_a_download_until_the_period_has_room_again()
    {
        var v1 = TestData.Binary(400_000, 11);
        var output = _device["opt"];
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "stable");
        var full = await _updater.UpdateAsync(Options(output, budget: new DataBudgetOptions { MaxBytes = 10 << 20 }));
        Assert.That(full.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(full.BytesDownloaded, Is.GreaterThan(0));

        // A budget the first download used up but for 100 bytes: even a small delta does not fit.
        var budget = new DataBudgetOptions { MaxBytes = full.BytesDownloaded + 100, Period = TimeSpan.FromHours(24) };
        var v2 = TestData.Edit(v1, 12);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        _clock.Advance(TimeSpan.FromHours(1));
        var refused = (await Assert.ThrowsAsync<DataBudgetExceededException>(() => _updater.UpdateAsync(Options(output, budget: budget))))!;
        Assert.That(refused.Message, Does.StartWith("downloading the delta to app.bin (").And.Contain(
            $"bytes) would exceed the data budget of {budget.MaxBytes} bytes per 24 h: {full.BytesDownloaded} bytes were downloaded in the last 24 h; enough is free again at"));
        Assert.That(refused.AvailableAt, Is.EqualTo(_clock.Start + TimeSpan.FromHours(24)).Within(TimeSpan.FromSeconds(5)));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v1), "the installed version is untouched");

        _clock.Advance(TimeSpan.FromHours(24));
        var later = await _updater.UpdateAsync(Options(output, budget: budget));
        Assert.That(later.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(later.InstalledPath), Is.EqualTo(v2));
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Start { get; } = DateTimeOffset.UtcNow;
        private TimeSpan _elapsed;
        public void Advance(TimeSpan by) => _elapsed += by;
        public override DateTimeOffset GetUtcNow() => Start + _elapsed;
    }
}

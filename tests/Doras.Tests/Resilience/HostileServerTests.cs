using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Resilience;

/// <summary>The updater against a server that fails, drops connections and sends wrong bytes.</summary>
public class HostileServerTests
{
    private RunningServer _server = null!;
    private TempDirectory _device = null!;
    private HttpClient _http = null!;
    private byte[] _v1 = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = await RunningServer.StartAsync();
        _device = new TempDirectory();
        _http = new HttpClient();
        _v1 = TestData.Binary(2 << 20, 1);
        await Versions.PublishFileAsync(_server.Store.Repository("fleet/app"), _server.Scratch, "app.bin", _v1, "stable");
    }

    [TearDown]
    public async Task TearDown()
    {
        _http.Dispose();
        _device.Dispose();
        await _server.DisposeAsync();
    }

    private Updater UpdaterVia(Uri url) =>
        new(new DeltaClient(_http, url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) }));

    private UpdateOptions Options(long maxBytes = 16L << 30) => new() { Reference = "fleet/app:stable", Output = _device["app"], MaxArtifactBytes = maxBytes };

    [Test]
    public async Task Server_errors_and_dropped_connections_are_retried_and_downloads_resume()
    {
        await using var proxy = await FaultProxy.StartAsync(_server.Url, path => path.Contains("/blobs/"));
        proxy.Script(Fault.ServiceUnavailable, Fault.CutBody, Fault.TooManyRequests, Fault.CutBody);
        var result = await UpdaterVia(proxy.Url).UpdateAsync(Options());
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(_v1));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(4));
    }

    [Test]
    public async Task Wrong_bytes_are_refused_with_a_clear_error_and_the_installation_is_untouched()
    {
        var updater = UpdaterVia(_server.Url);
        await updater.UpdateAsync(Options());
        var v2 = TestData.Edit(_v1, 2);
        await Versions.PublishFileAsync(_server.Store.Repository("fleet/app"), _server.Scratch, "app.bin", v2, "stable");

        await using var proxy = await FaultProxy.StartAsync(_server.Url, path => path.Contains("/blobs/"));
        proxy.Script(Enumerable.Repeat(Fault.CorruptBody, 20).ToArray());
        // The delta arrives corrupted (digest mismatch), so the client falls back to a full download, which is corrupted too.
        var error = (await Assert.ThrowsAsync<DigestMismatchException>(() => UpdaterVia(proxy.Url).UpdateAsync(Options())))!;
        Assert.That(error.Message, Does.Contain("the partial download was discarded"));
        Assert.That(File.ReadAllBytes(_device["app/app.bin"]), Is.EqualTo(_v1));
        Assert.That(Directory.GetFiles(_device[".app.doras"], "download-*"), Is.Empty, "a wrong download is not kept");

        // Once the link behaves, the same device updates by delta.
        var fixedResult = await updater.UpdateAsync(Options());
        Assert.That(fixedResult.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(_device["app/app.bin"]), Is.EqualTo(v2));
    }

    [Test]
    public async Task Artifacts_over_the_size_limit_are_refused_before_download()
    {
        var error = (await Assert.ThrowsAsync<ArtifactTooLargeException>(() => UpdaterVia(_server.Url).UpdateAsync(Options(maxBytes: 1_000_000))))!;
        Assert.That(error.Message, Is.EqualTo($"the artifact content of app.bin is {_v1.Length} bytes, over the limit of 1000000 bytes (MaxArtifactBytes)"));
        Assert.That(Directory.Exists(_device["app"]), Is.False);
    }

    [Test]
    public async Task A_crash_between_swap_and_state_is_finished_at_the_next_start_without_downloading()
    {
        var updater = UpdaterVia(_server.Url);
        await updater.UpdateAsync(Options());
        var v2 = TestData.Edit(_v1, 3);
        var v2Manifest = await Versions.PublishFileAsync(_server.Store.Repository("fleet/app"), _server.Scratch, "app.bin", v2, "stable");

        // As if the previous run died right after swapping v2 in: the file is v2, the journal says so, the state still says v1.
        File.WriteAllBytes(_device["app/app.bin"], v2);
        var state = InstallState.Load(_device[".app.doras/state.json"])!;
        await (state with { ManifestDigest = v2Manifest.Digest.ToString(), ContentDigest = Digest.Compute(v2).ToString(), ContentSize = v2.Length })
            .SaveAsync(_device[".app.doras/journal.json"]);

        var result = await updater.UpdateAsync(Options());
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.UpToDate));
        Assert.That(result.BytesDownloaded, Is.Zero);
        Assert.That(InstallState.Load(_device[".app.doras/state.json"])!.ManifestDigest, Is.EqualTo(v2Manifest.Digest.ToString()));
        Assert.That(File.Exists(_device[".app.doras/journal.json"]), Is.False);
    }

    [Test]
    public async Task A_crash_before_the_swap_is_rolled_back_and_the_update_runs_normally()
    {
        var updater = UpdaterVia(_server.Url);
        var first = await updater.UpdateAsync(Options());
        var v2 = TestData.Edit(_v1, 4);
        var v2Manifest = await Versions.PublishFileAsync(_server.Store.Repository("fleet/app"), _server.Scratch, "app.bin", v2, "stable");
        var state = InstallState.Load(_device[".app.doras/state.json"])!;
        await (state with { ManifestDigest = v2Manifest.Digest.ToString(), ContentDigest = Digest.Compute(v2).ToString(), ContentSize = v2.Length })
            .SaveAsync(_device[".app.doras/journal.json"]);

        var result = await updater.UpdateAsync(Options());
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta), "the old version was still installed, so a delta applies");
        Assert.That(File.ReadAllBytes(_device["app/app.bin"]), Is.EqualTo(v2));
        Assert.That(first.ManifestDigest, Is.Not.EqualTo(result.ManifestDigest));
    }
}

using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

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
        new(LoopbackDeltaClient.Create(url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) }));

    private UpdateOptions Options(long maxBytes = 16L << 30) => new() { Reference = "fleet/app:stable", Output = _device["app"], MaxArtifactBytes = maxBytes };

    [Test, CancelAfter(30_000)]
    public async Task A_server_sending_one_byte_a_second_is_aborted_as_stalled_and_the_next_attempt_resumes_with_a_range(CancellationToken ct)
    {
        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("/blobs/"));
        proxy.Script(Fault.Trickle, Fault.Trickle);
        var result = await UpdaterVia(proxy.Url).UpdateAsync(Options() with { StallTimeout = TimeSpan.FromSeconds(2), Attempts = 3 }, ct);
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(_v1));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(2));
        Assert.That(proxy.FaultBytesSent, Is.InRange(1, 10), "the trickles sent a few bytes before they were given up");
        Assert.That(proxy.Ranges, Has.Count.EqualTo(3));
        Assert.That(proxy.Ranges[0], Is.Empty);
        Assert.That(proxy.Ranges[2], Does.Match("^bytes=[1-9][0-9]*-$"), "the last attempt continued where the trickles stopped");
        Assert.That(result.BytesDownloaded, Is.LessThan(_v1.Length), "what the trickles brought was kept");
    }

    [Test, CancelAfter(30_000)]
    public async Task A_download_that_stays_stalled_fails_as_a_network_failure_naming_the_stall(CancellationToken ct)
    {
        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("/blobs/"));
        proxy.Script(Enumerable.Repeat(Fault.Trickle, 10).ToArray());
        var error = (await Assert.ThrowsAsync<ResponseStalledException>(() =>
            UpdaterVia(proxy.Url).UpdateAsync(Options() with { StallTimeout = TimeSpan.FromSeconds(2), Attempts = 2 }, ct)))!;
        // Each trickle was given up after a few of its bytes (one a second), not waited out.
        Assert.That(proxy.FaultBytesSent, Is.InRange(1, 10));
        Assert.That(error.Message, Does.Contain("the transfer stalled").And.Contain("in 2 s (stall timeout)"));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(2), "one request per attempt: a stall is not resumed within the attempt");
        Assert.That(Directory.Exists(_device["app"]), Is.False);
    }

    [Test, CancelAfter(30_000)]
    public async Task A_blob_longer_than_its_descriptor_is_refused_and_not_kept(CancellationToken ct)
    {
        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("/blobs/"));
        proxy.Script(Fault.Oversize);
        var error = (await Assert.ThrowsAsync<InvalidDataException>(() => UpdaterVia(proxy.Url).UpdateAsync(Options(), ct)))!;
        Assert.That(error.Message, Does.Match("^blob .*: the answer is longer than the limit of [0-9]+ bytes; refused$"));
        Assert.That(Directory.Exists(_device["app"]), Is.False);
        Assert.That(Directory.GetFiles(_device[".app.doras"], "download-*"), Is.Empty, "nothing of an oversized answer is kept");

        // The same through RemoteRepository.FetchAsync (verified stream): refused, not read for ever.
        var repository = LoopbackDeltaClient.Create(proxy.Url).Repository("fleet/app");
        var manifest = await repository.FetchManifestAsync(await repository.ResolveAsync("stable", ct), ct);
        proxy.Script(Fault.Oversize);
        await using var blob = await repository.FetchAsync(manifest.Layers[0], ct);
        Assert.That(async () => await blob.CopyToAsync(Stream.Null, ct), Throws.InstanceOf<InvalidDataException>().With.Message.Contain("longer than the limit"));
    }

    [Test, CancelAfter(60_000)]
    public async Task An_endless_signature_delta_is_refused_at_its_bound_and_the_device_downloads_in_full(CancellationToken ct)
    {
        // A file installed by other means: the client sends its signature, and the answer never ends.
        File.WriteAllBytes(Directory.CreateDirectory(_device["app"]).FullName + "/app.bin", TestData.Edit(_v1, 7));
        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("from-signature"));
        proxy.EndlessHeaders[Api.DeltaApi.ToImageHeader] = "fleet/app@" + Digest.Compute(_v1);
        proxy.Script(Fault.Endless);
        var log = new CapturingLogger();
        var updater = new Updater(LoopbackDeltaClient.Create(proxy.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(20) }), logger: log);
        var result = await updater.UpdateAsync(Options() with { ReplaceExisting = true }, ct); // not installed by doras: replaced only when asked
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(_v1));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(1));
        var bound = DeltaClient.SignatureDeltaBound(_v1.Length, Options().MaxArtifactBytes);
        Assert.That(bound, Is.EqualTo(2L * _v1.Length + (64 << 10)));
        Assert.That(log.Lines, Has.Some.Contains($"the answer is longer than the limit of {bound} bytes; refused").And.Contains("downloading in full"));
        // The reason names what was tried: the user's file as a base, not "nothing is installed yet".
        Assert.That(result.FallbackReason, Does.StartWith($"the file at the output was not installed by doras; no delta from a signature of {_device["app"]}/app.bin (")
            .And.Contain($"the answer is longer than the limit of {bound} bytes; refused"));
    }

    private sealed class CapturingLogger : Microsoft.Extensions.Logging.ILogger<Updater>
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add(formatter(state, exception));
        }
    }

    [Test, CancelAfter(60_000)]
    public async Task An_endless_answer_to_the_delta_request_fails_the_update_with_a_clear_error(CancellationToken ct)
    {
        var updater = UpdaterVia(_server.Url);
        await updater.UpdateAsync(Options(), ct);
        await Versions.PublishFileAsync(_server.Store.Repository("fleet/app"), _server.Scratch, "app.bin", TestData.Edit(_v1, 8), "stable");

        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path == Api.DeltaApi.Path);
        proxy.EndlessHeaders["Content-Type"] = "application/json";
        proxy.Script(Fault.Endless);
        var error = (await Assert.ThrowsAsync<InvalidDataException>(() => UpdaterVia(proxy.Url).UpdateAsync(Options(), ct)))!;
        Assert.That(error.Message, Is.EqualTo($"the delta server's answer to GET {Api.DeltaApi.Path}: the answer is longer than the limit of {DeltaClient.MaxAnswerBytes} bytes; refused"));
        Assert.That(proxy.FaultsInjected, Is.EqualTo(1), "refused, not asked again");
        Assert.That(File.ReadAllBytes(_device["app/app.bin"]), Is.EqualTo(_v1));
    }

    [Test]
    public async Task Server_errors_and_dropped_connections_are_retried_and_downloads_resume()
    {
        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("/blobs/"));
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

        await using var proxy = await LoopbackProxy.StartAsync(_server.Url, faultsOn: path => path.Contains("/blobs/"));
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
        Assert.That(error.Message, Is.EqualTo($"the artifact content of app.bin is {_v1.Length} bytes, over the limit of 1000000 bytes (--max-bytes, UpdateOptions.MaxArtifactBytes)"));
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

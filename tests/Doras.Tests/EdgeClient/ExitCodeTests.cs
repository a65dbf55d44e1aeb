using System.Net;
using Doras.Cli;
using Doras.Delta.Algorithms;
using Doras.Delta.Vocabulary;
using Doras.Delta.Zstd;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.IO;

namespace Doras.Tests.EdgeClient;

/// <summary>Every exit code the README lists, from the failure that causes it; the important ones as a user runs the CLI.</summary>
public class ExitCodeTests
{
    private static IEnumerable<TestCaseData> Failures()
    {
        TestCaseData Case(Exception e, int code) => new TestCaseData(e, code).SetArgDisplayNames($"{e.GetType().Name}({e.Message}) -> {code}");
        yield return Case(new OperationCanceledException(), ExitCodes.Cancelled);
        yield return Case(new ArgumentException("bad --server"), ExitCodes.Usage);
        yield return Case(new FormatException("bad reference"), ExitCodes.Usage);
        yield return Case(new ExistingContentException("/x", "not ours"), ExitCodes.Usage);
        yield return Case(new HttpRequestException("no route"), ExitCodes.Network);
        yield return Case(new HttpRequestException("503", null, HttpStatusCode.ServiceUnavailable), ExitCodes.Network);
        yield return Case(new HttpIOException(HttpRequestError.ResponseEnded, "the response ended prematurely"), ExitCodes.Network);
        yield return Case(new DownloadInterruptedException("cut"), ExitCodes.Network);
        yield return Case(new IOException("Connection reset by peer", new System.Net.Sockets.SocketException(104)), ExitCodes.Network);
        yield return Case(new Doras.Oci.Remote.ResponseStalledException("stalled"), ExitCodes.Network);
        yield return Case(new UpdateTimeoutException("gave up after 5 min"), ExitCodes.Network);
        yield return Case(new TaskCanceledException("HttpClient.Timeout", new TimeoutException()), ExitCodes.Network);
        yield return Case(new DeltaServerException(HttpStatusCode.BadGateway, null, "Bad Gateway", ""), ExitCodes.Network);
        yield return Case(new DigestMismatchException("wrong digest"), ExitCodes.Verification);
        yield return Case(new CorruptDeltaException("corrupt"), ExitCodes.Verification);
        yield return Case(new ZstdException("zstd stream is truncated: it ended inside a frame"), ExitCodes.Verification);
        yield return Case(new ZstdException("decompressed content exceeds the limit of 10 bytes"), ExitCodes.Verification);
        yield return Case(new InvalidDataException("longer than its bound"), ExitCodes.Verification);
        yield return Case(new InsufficientStorageException("needs more"), ExitCodes.Storage);
        yield return Case(new IOException("No space left on device", 28), ExitCodes.Storage);
        yield return Case(new ArtifactTooLargeException("too large"), ExitCodes.TooLarge);
        yield return Case(new HttpRequestException("401", null, HttpStatusCode.Unauthorized), ExitCodes.Unauthorized);
        yield return Case(new DeltaServerException(HttpStatusCode.Forbidden, null, "Forbidden", ""), ExitCodes.Unauthorized);
        yield return Case(new NotFoundException("no such tag"), ExitCodes.NotFound);
        yield return Case(new DeltaServerException(HttpStatusCode.NotFound, null, "Not Found", ""), ExitCodes.NotFound);
        yield return Case(new DataBudgetExceededException("over", null), ExitCodes.OverDataBudget);
        yield return Case(new LockContentionException("locked", new IOException()), ExitCodes.Locked);
        yield return Case(new InvalidOperationException("nothing to roll back"), ExitCodes.Failed);
    }

    [TestCaseSource(nameof(Failures))]
    public void A_failure_maps_to_its_exit_code(Exception failure, int code) => Assert.That(ExitCodes.For(failure), Is.EqualTo(code));

    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run(Binaries.Doras, args);

    [Test]
    public void A_command_line_that_does_not_parse_exits_2()
    {
        var (code, output) = Run("pull", "fleet/tool:stable");
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), output);
        Assert.That(output, Does.Contain("doras: --output is required: where to install"));
        (code, output) = Run("pull", "fleet/tool:stable", "-o", "/tmp/x", "--no-such-flag");
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), output);
    }

    [Test]
    public void Pull_without_a_server_asks_for_one_instead_of_guessing_an_address()
    {
        using var dir = new TempDirectory();
        var (code, output) = ExternalTool.Run(Binaries.Doras, ["pull", "fleet/tool:stable", "-o", dir["device"]],
            new ToolOptions { Environment = new Dictionary<string, string?> { ["DORAS_SERVER"] = null }, Limit = TimeSpan.FromMinutes(1) });
        Assert.That(code, Is.EqualTo(ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo("doras: name the Doras server: --server URL (e.g. https://doras.example.org), or set DORAS_SERVER"));
        Assert.That(Directory.Exists(dir["device"]), Is.False);
    }

    [Test, CancelAfter(120_000)]
    public async Task Another_update_holding_the_lock_exits_10_and_a_cut_transfer_exits_3(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        await Versions.PublishFileAsync(server.Store.Repository("fleet/tool"), server.Scratch, "tool", TestData.Binary(300_000, 61), "stable");

        dir.Write(".device.doras/.doras-work", []); // the work directory another doras process made
        using (await FileLock.AcquireAsync(dir[".device.doras/lock"], TimeSpan.FromSeconds(1), ct))
        {
            var (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]), ct);
            Assert.That(code, Is.EqualTo(ExitCodes.Locked), output);
            Assert.That(output, Does.Contain("is locked by another update"));
        }

        await using var proxy = await LoopbackProxy.StartAsync(server.Url, faultsOn: path => path.Contains("/blobs/"));
        proxy.Script(Enumerable.Repeat(Fault.CutBody, 10).ToArray());
        var (cutCode, cutOutput) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", proxy.Url.ToString(), "--output", dir["device"]), ct);
        Assert.That(cutCode, Is.EqualTo(ExitCodes.Network), cutOutput);
        Assert.That(File.Exists(dir["device/tool"]), Is.False);
    }

    [Test, CancelAfter(120_000)]
    public async Task A_layer_whose_zstd_stream_is_cut_short_exits_4(CancellationToken ct)
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var content = TestData.Binary(300_000, 62);
        var compressed = new MemoryStream();
        await using (var encoder = new ZstdEncoderStream(compressed, new ZstdCompressionOptions { Level = 3 }, leaveOpen: true))
            await encoder.WriteAsync(content, ct);
        var layerBytes = compressed.ToArray()[..(int)(compressed.Length / 2)]; // a valid blob (its digest matches) holding half a frame
        var layer = Doras.Oci.Model.Descriptor.FromBytes(Doras.Oci.Model.MediaTypes.OctetStream + "+zstd", layerBytes) with
        {
            Annotations = new Dictionary<string, string>
            {
                [Doras.Oci.Model.Annotations.Title] = "tool",
                [DorasAnnotations.ContentDigest] = Doras.Oci.Model.Digest.Compute(content).ToString(),
                [DorasAnnotations.ContentSize] = content.Length.ToString(),
            },
        };
        var repository = server.Store.Repository("fleet/tool");
        await repository.PushAsync(layer, new MemoryStream(layerBytes), ct);
        await repository.PushManifestAsync(new Doras.Oci.Model.ImageManifest { ArtifactType = DorasMediaTypes.Artifact, Config = Doras.Oci.Model.Descriptor.EmptyJson, Layers = [layer] }, ["stable"], ct);

        var (code, output) = await Task.Run(() => Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]), ct);
        Assert.That(code, Is.EqualTo(ExitCodes.Verification), output);
        Assert.That(output, Does.Contain("truncated"));
        Assert.That(File.Exists(dir["device/tool"]), Is.False);
    }
}

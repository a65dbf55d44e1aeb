using System.Net;
using System.Text.Json;
using Doras.Api;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Deltas;

namespace Doras.Tests.Server;

/// <summary>
/// Claims between real server processes over one real registry: the placeholder is renewed while a long build runs,
/// a killed owner is taken over once its placeholder expires, a stopped one (SIGTERM) gives its claim up at once.
/// Builds are made long with <c>Delta:TestOnlyBuildDelay</c>.
/// </summary>
public class BuildClaimTests
{
    private const string Repository = "fleet/app";

    private sealed record Setup(RegistryProcess Registry, RegistryClient Client, IOciRepository Repository, byte[] V1, byte[] V2, Descriptor From, Descriptor To, TempDirectory Dir)
        : IAsyncDisposable
    {
        public string Query => $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{Registry.Host}/{Repository.Name}@{From.Digest}")}&to_tag={Uri.EscapeDataString($"{Registry.Host}/{Repository.Name}:v2")}&accepted_algorithm=zstd";
        public DeltaKey Key => new(Repository.Name, From.Digest, To.Digest, "zstd");

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Registry.DisposeAsync();
            Dir.Dispose();
        }
    }

    private static async Task<Setup> PublishTwoVersionsAsync()
    {
        var registry = await RegistryProcess.StartAsync();
        var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repository = client.Repository(Repository);
        var dir = new TempDirectory();
        var v1 = TestData.Binary(300_000, 1);
        var v2 = TestData.Edit(v1, 2);
        var from = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1");
        var to = await Versions.PublishFileAsync(repository, dir, "app.bin", v2, "v2");
        return new Setup(registry, client, repository, v1, v2, from, to, dir);
    }

    private static Task<ServerProcess> StartServerAsync(Setup setup, params string[] settings) =>
        ServerProcess.StartAsync(ServerProcess.FreePort(), ["--registry", setup.Registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Delta:PlaceholderPollInterval", "00:00:00.2", .. settings]);

    /// <summary>The delta the server answers 200 for, applied by the zstd CLI to version 1: must be version 2 byte for byte.</summary>
    private static async Task AssertReadyDeltaGivesV2Async(ServerProcess server, Setup setup)
    {
        using var response = await server.Http.GetAsync(setup.Query);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(body.RootElement.GetProperty("status").GetString(), Is.EqualTo(DeltaStatus.Ready));
        var deltaImage = Reference.Parse(body.RootElement.GetProperty("delta_image").GetString()!);
        var manifest = await setup.Repository.FetchManifestAsync(await setup.Repository.ResolveAsync(deltaImage.Identifier));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaTo), Is.EqualTo($"{setup.Registry.Host}/{Repository}@{setup.To.Digest}"));
        var deltaPath = setup.Dir[$"delta-{Guid.NewGuid():N}"];
        await using (var blob = await setup.Repository.FetchAsync(manifest.Layers.Single()))
        await using (var file = File.Create(deltaPath))
            await blob.CopyToAsync(file);
        var v1Path = setup.Dir.Write($"v1-{Guid.NewGuid():N}", setup.V1);
        var outPath = setup.Dir[$"out-{Guid.NewGuid():N}"];
        ExternalTool.RunOk("zstd", "-q", "-d", $"--patch-from={v1Path}", deltaPath, "-o", outPath);
        Assert.That(File.ReadAllBytes(outPath), Is.EqualTo(setup.V2));
    }

    private static async Task<DeltaRecord> RecordAsync(Setup setup) => await DeltaRecords.ReadAsync(setup.Repository, setup.Key, CancellationToken.None);

    [Test]
    public async Task A_live_owner_keeps_its_long_build_and_a_killed_one_is_taken_over_after_the_placeholder_expires()
    {
        await using var setup = await PublishTwoVersionsAsync();
        string[] claims = ["--Delta:PlaceholderExpiry", "00:00:03", "--Delta:HeartbeatInterval", "00:00:00.5"];
        await using var owner = await StartServerAsync(setup, [.. claims, "--Delta:TestOnlyBuildDelay", "00:10:00"]);
        await using var other = await StartServerAsync(setup, claims);

        using (var first = await owner.Http.GetAsync(setup.Query))
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(await owner.WaitForLogAsync("Claimed delta", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', owner.Lines));
        var claimed = (DeltaRecord.Building)await RecordAsync(setup);
        Assert.That(claimed.Owner, Does.Contain($"/{owner.Id}/"));

        // The other instance waits: for three expiry periods the heartbeat keeps the owner's placeholder fresh.
        using (var waiting = await other.Http.GetAsync(setup.Query))
            Assert.That(waiting.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        await Task.Delay(TimeSpan.FromSeconds(9));
        var renewed = (DeltaRecord.Building)await RecordAsync(setup);
        Assert.That(renewed.Owner, Is.EqualTo(claimed.Owner));
        Assert.That(renewed.Since, Is.GreaterThan(claimed.Since + TimeSpan.FromSeconds(5)), "renewed by the heartbeat");
        Assert.That(other.Count("Claimed delta"), Is.Zero, "a live owner's build is never duplicated");
        Assert.That(other.Count("Building delta"), Is.Zero);

        await owner.KillAsync();
        Assert.That(await other.WaitForLogAsync("Built delta", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', other.Lines));
        Assert.That(other.Count("Took over delta"), Is.EqualTo(1));
        Assert.That(other.Lines.Single(l => l.Contains("Took over delta")), Does.Contain(claimed.Owner));
        Assert.That(other.Count("Built delta"), Is.EqualTo(1));
        await AssertReadyDeltaGivesV2Async(other, setup);
    }

    [Test]
    public async Task SIGTERM_releases_the_claim_so_another_instance_builds_at_once()
    {
        await using var setup = await PublishTwoVersionsAsync();
        // An expiry far beyond the test's bounds: only the release can let the other instance build.
        string[] claims = ["--Delta:PlaceholderExpiry", "01:00:00"];
        await using var owner = await StartServerAsync(setup, [.. claims, "--Delta:TestOnlyBuildDelay", "00:10:00"]);
        await using var other = await StartServerAsync(setup, claims);

        using (var first = await owner.Http.GetAsync(setup.Query))
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        Assert.That(await owner.WaitForLogAsync("Claimed delta", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', owner.Lines));
        using (var waiting = await other.Http.GetAsync(setup.Query))
            Assert.That(waiting.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        await owner.TerminateAsync();
        Assert.That(owner.ExitCode, Is.Zero);
        Assert.That(owner.Count("Released the claim on delta"), Is.EqualTo(1), string.Join('\n', owner.Lines));
        Assert.That(await other.WaitForLogAsync("Built delta", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', other.Lines));
        Assert.That(other.Lines.Single(l => l.Contains("Took over delta")), Does.Contain("(released)"));
        await AssertReadyDeltaGivesV2Async(other, setup);
    }
}

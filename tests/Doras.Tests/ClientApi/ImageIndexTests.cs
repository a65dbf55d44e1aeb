using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Tests.ClientApi;

/// <summary>
/// Multi-platform versions: <c>doras push --platform os/arch=PATH</c> writes an image index (read back by skopeo),
/// and <c>pull</c> installs the device's platform from it and updates by a delta between platform manifests, so
/// a mixed fleet follows one tag; an index skopeo wrote is pulled the same way.
/// </summary>
public class ImageIndexTests
{
    private static readonly string[] Platforms2 = ["linux/amd64", "linux/arm64"];

    private static string PushIndex(string reference, TempDirectory dir, string release, byte[] amd64, byte[] arm64, params string[] extra) =>
        CliRun.Ok(["push", reference, "--platform", $"linux/amd64={dir.Write($"{release}/x64/app.bin", amd64)}",
            "--platform", $"linux/arm64={dir.Write($"{release}/arm64/app.bin", arm64)}", "--level", "3", .. extra]);

    private static Digest PushedDigest(string output) =>
        Digest.Parse(output.Split('\n').Single(l => l.StartsWith("pushed ", StringComparison.Ordinal)).Split('@')[1].Split(' ')[0]);

    private static JsonElement Pull(params string[] args)
    {
        var output = CliRun.Ok(["pull", .. args, "--allow-http", "--json"]);
        using var doc = JsonDocument.Parse(output.Split('\n').Single(l => l.StartsWith('{')));
        return doc.RootElement.Clone();
    }

    [Test]
    public async Task A_mixed_fleet_follows_one_index_tag_on_a_registry_and_updates_each_platform_by_delta()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var (x1, a1) = (TestData.Binary(300_000, 1), TestData.Binary(300_000, 2));
        var image = $"{registry.Host}/fleet/multi";

        var pushed = PushIndex($"{image}:1", dir, "r1", x1, a1, "--tag", "stable", "--plain-http");
        Assert.That(pushed, Does.Contain($"as 1, stable: an index of 2 platform(s), linux/amd64, linux/arm64"));

        // skopeo reads our index byte for byte.
        var raw = ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{image}:stable");
        Assert.That(Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw)), Is.EqualTo(PushedDigest(pushed)));
        var index = OciJson.Deserialize<ImageIndex>(System.Text.Encoding.UTF8.GetBytes(raw), "skopeo's output");
        Assert.That(index.MediaType, Is.EqualTo(MediaTypes.ImageIndex));
        Assert.That(index.Manifests.Select(m => Platforms.Format(m.Platform!)), Is.EqualTo(Platforms2));
        Assert.That(index.Manifests.Select(m => m.MediaType), Is.All.EqualTo(MediaTypes.ImageManifest));

        string[] common = ["--server", server.Url.ToString(), "--plain-http"];
        var arm = Pull([$"{image}:stable", "-o", dir["arm"], "--platform", "linux/arm64", .. common]);
        var x64 = Pull([$"{image}:stable", "-o", dir["x64"], "--platform", "linux/amd64", .. common]);
        Assert.That(arm.GetProperty("mode").GetString(), Is.EqualTo("full"));
        Assert.That(File.ReadAllBytes(dir["arm/app.bin"]), Is.EqualTo(a1));
        Assert.That(File.ReadAllBytes(dir["x64/app.bin"]), Is.EqualTo(x1));
        Assert.That(arm.GetProperty("manifest").GetString(), Is.EqualTo(index.Manifests[1].Digest.ToString()), "the arm64 platform manifest is what is installed");

        // Without --platform: this machine's.
        var host = Doras.Oci.Model.Platforms.Host;
        if (Platforms2.Contains(Platforms.Format(host with { Variant = null })))
        {
            Pull([$"{image}:stable", "-o", dir["host"], .. common]);
            Assert.That(File.ReadAllBytes(dir["host/app.bin"]), Is.EqualTo(host.Architecture == "arm64" ? a1 : x1));
        }

        // Version 2 of both builds: each device updates by a delta between its own platform's manifests.
        var (x2, a2) = (TestData.Edit(x1, 3), TestData.Edit(a1, 4));
        PushIndex($"{image}:2", dir, "r2", x2, a2, "--tag", "stable", "--plain-http");
        var index2 = OciJson.Deserialize<ImageIndex>(System.Text.Encoding.UTF8.GetBytes(
            ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{image}:2")), "index 2");
        arm = Pull([$"{image}:stable", "-o", dir["arm"], "--platform", "linux/arm64", .. common]);
        x64 = Pull([$"{image}:stable", "-o", dir["x64"], "--platform", "linux/amd64", .. common]);
        Assert.That(arm.GetProperty("mode").GetString(), Is.EqualTo("delta"), arm.ToString());
        Assert.That(x64.GetProperty("mode").GetString(), Is.EqualTo("delta"), x64.ToString());
        Assert.That(arm.GetProperty("bytesDownloaded").GetInt64(), Is.LessThan(arm.GetProperty("fullDownloadSize").GetInt64() / 4));
        Assert.That(File.ReadAllBytes(dir["arm/app.bin"]), Is.EqualTo(a2));
        Assert.That(File.ReadAllBytes(dir["x64/app.bin"]), Is.EqualTo(x2));
        Assert.That(arm.GetProperty("manifest").GetString(), Is.EqualTo(index2.Manifests[1].Digest.ToString()));
        Assert.That(x64.GetProperty("manifest").GetString(), Is.EqualTo(index2.Manifests[0].Digest.ToString()));

        // An index skopeo wrote is pulled the same way.
        ExternalTool.RunOk("skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", $"docker://{image}:2", $"docker://{registry.Host}/fleet/by-skopeo:2");
        Pull([$"{registry.Host}/fleet/by-skopeo:2", "-o", dir["skopeo-arm"], "--platform", "linux/arm64", .. common]);
        Assert.That(File.ReadAllBytes(dir["skopeo-arm/app.bin"]), Is.EqualTo(a2));

        // A platform the index does not have: not found, by name, and nothing installed.
        var (code, output) = CliRun.Run(["pull", $"{image}:stable", "-o", dir["s390x"], "--platform", "linux/s390x", "--allow-http", .. common]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.NotFound), output);
        Assert.That(output, Does.Contain($"fleet/multi:stable has no manifest for linux/s390x; it has: linux/amd64, linux/arm64"));
        Assert.That(File.Exists(dir["s390x/app.bin"]), Is.False);
    }

    [Test]
    public async Task Through_the_servers_own_store_an_index_tag_is_resolved_to_the_platform_for_deltas()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var (x1, a1) = (TestData.Binary(200_000, 5), TestData.Binary(200_000, 6));
        PushIndex("fleet/multi:1", dir, "r1", x1, a1, "--tag", "stable", "--store", server.StorePath);
        Assert.That(Pull("fleet/multi:stable", "--server", server.Url.ToString(), "-o", dir["arm"], "--platform", "linux/arm64").GetProperty("mode").GetString(), Is.EqualTo("full"));

        var a2 = TestData.Edit(a1, 7);
        PushIndex("fleet/multi:2", dir, "r2", TestData.Edit(x1, 8), a2, "--tag", "stable", "--store", server.StorePath);
        var update = Pull("fleet/multi:stable", "--server", server.Url.ToString(), "-o", dir["arm"], "--platform", "linux/arm64");
        Assert.That(update.GetProperty("mode").GetString(), Is.EqualTo("delta"), update.ToString());
        Assert.That(File.ReadAllBytes(dir["arm/app.bin"]), Is.EqualTo(a2));

        // watch follows the same tag for another platform.
        var watched = CliRun.Ok("watch", "fleet/multi:stable", "--allow-http", "--server", server.Url.ToString(), "-o", dir["x64"], "--platform", "linux/amd64", "--max-checks", "1", "--json");
        Assert.That(watched, Does.Contain("\"mode\":\"full\""));
        Assert.That(File.ReadAllBytes(dir["x64/app.bin"]), Is.EqualTo(TestData.Edit(x1, 8)));

        // The store holds the index at the tag, readable by skopeo as an OCI layout.
        var raw = ExternalTool.RunOk("skopeo", "inspect", "--raw", $"oci:{Path.Combine(server.StorePath, "fleet/multi")}:stable");
        Assert.That(OciJson.PeekMediaType(System.Text.Encoding.UTF8.GetBytes(raw)), Is.EqualTo(MediaTypes.ImageIndex));
    }

    [Test]
    public async Task The_server_resolves_an_index_tag_to_the_platform_asked_for_and_says_what_to_add_without_one()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var (x1, a1) = (TestData.Binary(200_000, 9), TestData.Binary(200_000, 10));
        PushIndex("fleet/multi:1", dir, "r1", x1, a1, "--store", server.StorePath);
        PushIndex("fleet/multi:2", dir, "r2", TestData.Edit(x1, 11), TestData.Edit(a1, 12), "--store", server.StorePath);
        var store = server.Store.Open("fleet/multi");
        var from = await Doras.Oci.Content.ArtifactResolution.ResolvePlatformAsync(store, "1", Platforms.Parse("linux/arm64"));
        var to = await Doras.Oci.Content.ArtifactResolution.ResolvePlatformAsync(store, "2", Platforms.Parse("linux/arm64"));
        using var client = LoopbackDeltaClient.Create(server.Url, new Doras.EdgeClient.Deltas.BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) });
        var request = new Doras.EdgeClient.Deltas.DeltaRequest(Reference.Parse($"fleet/multi@{from.Digest}"), Reference.Parse("fleet/multi:2"), ["zstd"]);

        var error = (await Assert.ThrowsAsync<Doras.EdgeClient.Deltas.DeltaServerException>(() => client.PollDeltaAsync(request)))!;
        Assert.That(error.Status, Is.EqualTo(System.Net.HttpStatusCode.BadRequest));
        Assert.That(error.Detail, Is.EqualTo("the to image fleet/multi:2 is a multi-platform index (linux/amd64, linux/arm64): add platform=os/arch[/variant], or name the platform's manifest with to_digest"));

        var ready = await client.ReadDeltaAsync(request with { Platform = Platforms.Parse("linux/arm64") });
        Assert.That(ready.Status, Is.EqualTo(Doras.Api.DeltaStatus.Ready));
        Assert.That(ready.ToImage, Is.EqualTo($"fleet/multi@{to.Digest}"), "the delta goes to the arm64 manifest");
        await using (var delta = await client.OpenDeltaAsync(ready))
            Assert.That(delta.Layer.Size, Is.LessThan(200_000 / 4), "a delta, not the whole build");

        error = (await Assert.ThrowsAsync<Doras.EdgeClient.Deltas.DeltaServerException>(() => client.PollDeltaAsync(request with { Platform = Platforms.Parse("linux/s390x") })))!;
        Assert.That(error.Status, Is.EqualTo(System.Net.HttpStatusCode.NotFound));
        Assert.That(error.Detail, Is.EqualTo($"fleet/multi@{(await store.ResolveAsync("2")).Digest} has no manifest for linux/s390x; it has: linux/amd64, linux/arm64"));
    }

    [Test]
    public void Push_with_platforms_refuses_bad_platform_builds_before_writing()
    {
        using var dir = new TempDirectory();
        var file = dir.Write("a/app.bin", [1, 2, 3]);
        (string[] Args, string Message)[] cases =
        [
            (["push", "fleet/x:1", "--platform", $"linux={file}"], "doras: invalid platform 'linux': expected os/arch[/variant], e.g. linux/arm64"),
            (["push", "fleet/x:1", "--platform", "linux/arm64"], "doras: --platform 'linux/arm64' is not os/arch[/variant]=PATH, e.g. linux/arm64=./build-arm64"),
            (["push", "fleet/x:1", "--platform", $"linux/arm64={dir["missing"]}"], $"doras: --platform linux/arm64: '{dir["missing"]}' is neither a file nor a directory"),
            (["push", "fleet/x:1", "--platform", $"linux/arm64={file}", "--platform", $"linux/arm64={file}"], "doras: --platform linux/arm64 is given twice"),
            (["push", file, "fleet/x:1", "--platform", $"linux/arm64={file}"], "doras: with --platform, give only the reference: doras push REF --platform os/arch=PATH ..."),
            (["push", "fleet/x:1"], "doras: give the path and the reference: doras push PATH REF (or doras push REF --platform os/arch=PATH ...)"),
        ];
        foreach (var (args, message) in cases)
        {
            var (code, output) = CliRun.Run([.. args, "--store", dir["store"]]);
            Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
            Assert.That(output.Trim(), Is.EqualTo(message));
        }
        Assert.That(Directory.Exists(dir["store"]), Is.False, "nothing was written");
    }
}

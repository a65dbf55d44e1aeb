using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Tests.Registry;

public class RegistryCliAndCopyTests
{
    private static readonly string Doras = Binaries.Doras;

    private static string Run(params string[] args)
    {
        var (code, output) = ExternalTool.Run(Doras, args);
        Assert.That(code, Is.Zero, $"doras {string.Join(' ', args)}: {output}");
        return output;
    }

    [Test]
    public async Task Cli_push_tags_download_copy_and_pull_against_a_registry_with_auth()
    {
        await using var registry = await RegistryProcess.StartWithBasicAuthAsync("bob", "pw");
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", registry.Host, "--Registry:Credentials:0:Username", "bob", "--Registry:Credentials:0:Password", "pw");
        using var dir = new TempDirectory();
        string[] auth = ["--plain-http", "-u", "bob", "-p", "pw", "--docker-config", dir["no-config.json"]];
        var v1 = TestData.Binary(1 << 20, 1);
        var tree = dir["site"];
        Directory.CreateDirectory(Path.Combine(tree, "css"));
        File.WriteAllText(Path.Combine(tree, "index.html"), "<h1>hi</h1>");
        File.WriteAllText(Path.Combine(tree, "css/site.css"), "h1{}");

        var pushed = Run(["push", dir.Write("r1/app.bin", v1), $"{registry.Host}/fleet/app:1.0", "--tag", "stable", .. auth]);
        Assert.That(pushed, Does.Contain($"pushed {registry.Host}/fleet/app@sha256:").And.Contain("(100%)"));
        Run(["push", tree, $"{registry.Host}/fleet/site:1", .. auth]);

        // Published with our CLI, read by skopeo; pushed by skopeo, downloaded with our CLI.
        var viaSkopeo = dir["skopeo-layout"];
        Directory.CreateDirectory(viaSkopeo);
        ExternalTool.RunOk("skopeo", "copy", "--src-tls-verify=false", "--src-creds", "bob:pw", $"docker://{registry.Host}/fleet/app:1.0", $"oci:{viaSkopeo}:1.0");
        ExternalTool.RunOk("skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", "bob:pw", $"oci:{viaSkopeo}:1.0", $"docker://{registry.Host}/fleet/by-skopeo:1.0");
        Run(["download", $"{registry.Host}/fleet/by-skopeo:1.0", "-o", dir["dl-skopeo"], .. auth]);
        Assert.That(File.ReadAllBytes(dir["dl-skopeo/app.bin"]), Is.EqualTo(v1));

        Assert.That(Run(["tags", $"{registry.Host}/fleet/app", .. auth]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Is.EquivalentTo(new[] { "1.0", "stable" }));
        var (missingCode, missing) = ExternalTool.Run(Doras, ["tags", $"{registry.Host}/fleet/nothing", .. auth]);
        Assert.That(missingCode, Is.EqualTo(global::Doras.Cli.ExitCodes.NotFound), missing);
        Assert.That(missing.Trim(), Is.EqualTo("doras: fleet/nothing has no tags: the repository does not exist, or holds no tagged version"));

        Run(["download", $"{registry.Host}/fleet/app:stable", "-o", dir["dl"], .. auth]);
        Assert.That(File.ReadAllBytes(dir["dl/app.bin"]), Is.EqualTo(v1));
        // An executable arrives executable, as pull installs it; a second download never replaces the file.
        File.SetUnixFileMode(dir["r1/app.bin"], (UnixFileMode)0b111_101_101);
        Run(["push", dir["r1/app.bin"], $"{registry.Host}/fleet/tool:1", .. auth]);
        Run(["download", $"{registry.Host}/fleet/tool:1", "-o", dir["dl-tool"], .. auth]);
        Assert.That(File.GetUnixFileMode(dir["dl-tool/app.bin"]), Is.EqualTo((UnixFileMode)0b111_101_101));
        File.WriteAllText(dir["dl-tool/app.bin"], "mine");
        var (code, refused) = ExternalTool.Run(Doras, ["download", $"{registry.Host}/fleet/tool:1", "-o", dir["dl-tool"], .. auth]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), refused);
        Assert.That(refused, Does.Contain($"doras: {dir["dl-tool/app.bin"]} exists; download never replaces a file: remove it or choose another --output"));
        Assert.That(File.ReadAllText(dir["dl-tool/app.bin"]), Is.EqualTo("mine"));
        Run(["download", $"{registry.Host}/fleet/site:1", "-o", dir["dl"], .. auth]);
        Assert.That(File.ReadAllText(dir["dl/site/css/site.css"]), Is.EqualTo("h1{}"));

        // Registry -> local store, and back under another name.
        Run(["copy", $"{registry.Host}/fleet/app:1.0", "mirror/app:1.0", "--store", dir["store"], .. auth]);
        var local = new OciLayoutStore(dir["store"]).Open("mirror/app");
        var layer = ArtifactLayer.From((await local.ResolveManifestAsync("1.0")).Manifest, "mirror");
        await layer.DownloadContentAsync(local, dir["from-store"]);
        Assert.That(File.ReadAllBytes(dir["from-store"]), Is.EqualTo(v1));
        Assert.That(Run(["copy", "mirror/app:1.0", $"{registry.Host}/fleet/copy:1.0", "--store", dir["store"], .. auth]), Does.Contain("copied"));

        // The device: full install, then an update by delta, straight from the registry.
        Assert.That(Run(["pull", $"{registry.Host}/fleet/app:stable", "--allow-http", "--server", server.Url.ToString(), "-o", dir["device"], .. auth]), Does.StartWith("full download"));
        Run(["push", dir.Write("r2/app.bin", TestData.Edit(v1, 2)), $"{registry.Host}/fleet/app:1.1", "--tag", "stable", .. auth]);
        Assert.That(Run(["pull", $"{registry.Host}/fleet/app:stable", "--allow-http", "--server", server.Url.ToString(), "-o", dir["device"], .. auth]), Does.StartWith("delta update"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(TestData.Edit(v1, 2)));
    }

    [Test]
    public async Task Catalog_of_a_Doras_server_says_in_words_that_it_lists_nothing()
    {
        await using var server = await RunningServer.StartAsync();
        await Versions.PublishFileAsync(server.Store.Repository("fleet/app"), server.Scratch, "app", TestData.Binary(1000, 1), "v1");
        var (code, output) = ExternalTool.Run(Doras, ["catalog", server.Url.Authority, "--plain-http"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output.Trim(), Is.EqualTo($"doras: {server.Url.Authority} lists no repositories (a Doras server's /v2/ and registries with the catalog turned off list none)"));
    }

    [Test]
    public void An_HTML_error_page_is_described_in_one_short_line()
    {
        var page = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>" + new string('x', 5000) + "</body></html>";
        Assert.That(ErrorBody.Describe(page), Is.EqualTo("an HTML page ('404 Not Found'), not a registry's answer"));
        Assert.That(ErrorBody.Describe("<html><body>oops</body></html>"), Is.EqualTo("an HTML page, not a registry's answer"));
        Assert.That(ErrorBody.Describe(new string('y', 1000)), Has.Length.EqualTo(301));
    }

    [Test]
    public async Task Copy_of_a_multi_platform_index_mounts_within_a_registry_and_skips_what_exists()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        using var dir = new TempDirectory();
        var layout = new OciLayoutStore(dir["layout"]).Open("multi");
        var amd64 = await ArtifactPublisher.PublishAsync(layout, dir.Write("a/fw.bin", TestData.Binary(200_000, 1)), []);
        var arm64 = await ArtifactPublisher.PublishAsync(layout, dir.Write("b/fw.bin", TestData.Binary(200_000, 2)), []);
        var index = new ImageIndex
        {
            Manifests =
            [
                amd64.Manifest with { Platform = new Platform { Os = "linux", Architecture = "amd64" } },
                arm64.Manifest with { Platform = new Platform { Os = "linux", Architecture = "arm64" } },
            ],
        };
        var indexBytes = OciJson.Serialize(index);
        var indexDescriptor = Descriptor.FromBytes(MediaTypes.ImageIndex, indexBytes);
        await layout.PushAsync(indexDescriptor, new MemoryStream(indexBytes));
        await layout.TagAsync(indexDescriptor, "1.0");

        var actions = new List<string>();
        var progress = new SynchronousProgress<(Descriptor, string Action)>(p => { lock (actions) actions.Add(p.Action); });
        var first = client.Repository("fleet/multi");
        var root = await GraphCopy.CopyAsync(layout, "1.0", first, ["1.0"], new CopyOptions { Progress = progress });
        Assert.That(root.Digest, Is.EqualTo(indexDescriptor.Digest));
        Assert.That(actions.Count(a => a == "copied"), Is.EqualTo(3), "two layers and one shared empty config");

        var (_, arm) = await first.ResolveManifestAsync("1.0", Platforms.Parse("linux/arm64"));
        Assert.That(arm.Layers[0].Digest, Is.EqualTo(arm64.Layer.Layer.Digest));
        await Assert.ThrowsAsync<NotFoundException>(() => first.ResolveManifestAsync("1.0", Platforms.Parse("linux/riscv64")));

        actions.Clear();
        await GraphCopy.CopyAsync(first, "1.0", client.Repository("fleet/other"), ["1.0"], new CopyOptions { Progress = progress });
        // Two layers and the config are mounted; the second manifest finds the shared config already there.
        Assert.That(actions.Count(a => a == "mounted"), Is.EqualTo(3));
        Assert.That(actions, Is.All.EqualTo("mounted").Or.EqualTo("exists"));
        actions.Clear();
        await GraphCopy.CopyAsync(first, "1.0", client.Repository("fleet/other"), ["again"], new CopyOptions { Progress = progress });
        Assert.That(actions, Is.All.EqualTo("exists"));
    }
}

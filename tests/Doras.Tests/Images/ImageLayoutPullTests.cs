using System.Text.Json;

namespace Doras.Tests.Images;

/// <summary>
/// `doras pull REF --image-layout DIR`: a real three-layer gzip image built by buildah and pushed to a real registry
/// lands in an OCI layout with the registry's exact manifest digest (skopeo reads it), the next version comes by image
/// delta (the shared layer held, the others rebuilt) and the old image's blobs go, and a signed-image policy refuses an
/// unsigned one.
/// </summary>
public class ImageLayoutPullTests
{
    [Test, CancelAfter(300_000)]
    public async Task A_buildah_image_lands_in_the_layout_with_the_registrys_digest_and_the_next_version_costs_what_changed()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var buildah = new Buildah(dir);
        dir.Write("v1/bin/app", TestData.Binary(300_000, 1));
        dir.Write("v1/etc/app.conf", "answer = 41\n"u8.ToArray());
        dir.Write("v1/data/table.txt", System.Text.Encoding.ASCII.GetBytes(string.Join('\n', Enumerable.Range(0, 5000))));
        var name = $"{registry.Host}/fleet/image";
        buildah.Push(buildah.Build("localhost/fleet/image:v1", dir["v1/bin"], dir["v1/etc"], dir["v1/data"]), $"docker://{name}:stable");
        string Digest() => JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", "--tls-verify=false", $"docker://{name}:stable")).RootElement.GetProperty("Digest").GetString()!;
        (int Code, string Output) Pull(params string[] more) => ExternalTool.Run(Binaries.Doras, ["pull", $"{name}:stable", "--plain-http", "--allow-http",
            "--server", server.Url.ToString(), "--image-layout", dir["layout"], .. more]);

        var v1 = Digest();
        var (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith($"full download: {dir["layout"]}:stable is now {v1}"));
        Assert.That(JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", $"oci:{dir["layout"]}:stable")).RootElement.GetProperty("Digest").GetString(), Is.EqualTo(v1),
            "skopeo reads the layout, and the manifest is the registry's byte for byte");
        ExternalTool.RunOk("skopeo", "copy", $"oci:{dir["layout"]}:stable", $"dir:{dir["copied"]}"); // every blob readable and right

        // v2 is built on v1's first layer and changes the config file: that layer is kept, the others and the old config go.
        dir.Write("v2/etc/app.conf", "answer = 42\n"u8.ToArray());
        buildah.Push(buildah.BuildOn("localhost/fleet/image:v1-layer0", "localhost/fleet/image:v2", dir["v2/etc"], dir["v1/data"]), $"docker://{name}:stable");
        var v2 = Digest();
        Assert.That(v2, Is.Not.EqualTo(v1));
        (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        // The server makes an image delta: the shared layer is held, the two new ones rebuilt from the old layers.
        Assert.That(output, Does.StartWith($"delta update: {dir["layout"]}:stable is now {v2}"), output);
        var counts = System.Text.RegularExpressions.Regex.Match(output, @"image delta: (\d+) layer\(s\) rebuilt, (\d+) downloaded, 1 kept");
        Assert.That(counts.Success, Is.True, "the shared layer is kept: " + output);
        Assert.That(int.Parse(counts.Groups[1].Value), Is.GreaterThanOrEqualTo(1), "the changed config file's layer is rebuilt: " + output);
        Assert.That(int.Parse(counts.Groups[1].Value) + int.Parse(counts.Groups[2].Value), Is.EqualTo(2), "each new layer rebuilt or, where that is not smaller, downloaded: " + output);
        Assert.That(JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", $"oci:{dir["layout"]}:stable")).RootElement.GetProperty("Digest").GetString(), Is.EqualTo(v2));
        var blobs = Directory.GetFiles(dir["layout/blobs/sha256"]).Select(Path.GetFileName).ToHashSet();
        Assert.That(blobs, Does.Not.Contain(v1[7..]), "the old manifest is gone");
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(dir["layout/blobs/sha256/" + v2[7..]]));
        var needed = manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()![7..])
            .Append(manifest.RootElement.GetProperty("config").GetProperty("digest").GetString()![7..]).Append(v2[7..]).ToHashSet();
        Assert.That(blobs, Is.EquivalentTo(needed), "exactly the new image's blobs");

        (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith($"up to date: {dir["layout"]}:stable is {v2}"));

        // watch keeps the image too: up to date, once.
        (code, output) = ExternalTool.Run(Binaries.Doras, "watch", $"{name}:stable", "--plain-http", "--allow-http", "--server", server.Url.ToString(),
            "--image-layout", dir["layout"], "--max-checks", "1", "--interval", "1");
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain($"check 1: up to date: {dir["layout"]}:stable is {v2}"));

        // With a publisher key, an unsigned image is refused and the layout keeps what it had.
        var key = Signing.Keys.Generate(dir, "a");
        (code, output) = Pull("--verify-key", key.Public);
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", $"oci:{dir["layout"]}:stable")).RootElement.GetProperty("Digest").GetString(), Is.EqualTo(v2));
    }
}

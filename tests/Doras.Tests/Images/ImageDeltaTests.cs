using System.Text.Json;
using System.Text.RegularExpressions;

namespace Doras.Tests.Images;

/// <summary>
/// Image deltas end to end: real images built by buildah in a real registry, the Doras server on loopback computing
/// the delta, the native client rebuilding the new layers from the old ones into an OCI layout, and skopeo reading
/// the result with the registry's manifest digest.
/// </summary>
public partial class ImageDeltaTests
{
    [GeneratedRegex(@"\((\d+) bytes\) instead of the full ([\d.]+) KiB")]
    private static partial Regex Bytes();

    private static string LayoutDigest(string layout, string tag) =>
        JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", $"oci:{layout}:{tag}")).RootElement.GetProperty("Digest").GetString()!;

    /// <summary>How each version's layers are compressed: as buildah writes them, or by another real encoder.</summary>
    private static void Publish(Buildah buildah, string image, TempDirectory dir, string destination, string encoder)
    {
        var layout = dir["oci-" + Guid.NewGuid().ToString("N")];
        buildah.Push(image, $"oci:{layout}:t");
        switch (encoder)
        {
            case "zstd-cli": LayoutRecompression.Recompress(layout, "t", "application/vnd.oci.image.layer.v1.tar+zstd", "zstd", "-3", "-c", "-q"); break;
            case "zstd-cli-19": LayoutRecompression.Recompress(layout, "t", "application/vnd.oci.image.layer.v1.tar+zstd", "zstd", "-19", "-c", "-q"); break;
            case "gnu-gzip": LayoutRecompression.Recompress(layout, "t", "application/vnd.oci.image.layer.v1.tar+gzip", "gzip", "-6", "-n", "-c"); break;
        }
        ExternalTool.RunOk("skopeo", "copy", "--dest-tls-verify=false", $"oci:{layout}:t", destination);
    }

    [TestCase("buildah-gzip"), TestCase("gnu-gzip"), TestCase("zstd-cli"), CancelAfter(300_000)]
    public async Task A_changed_file_in_a_large_layer_costs_about_its_delta_and_the_layout_gets_the_registrys_exact_image(string encoder)
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var buildah = new Buildah(dir);
        var app = TestData.Binary(2_000_000, 7);
        dir.Write("v1/bin/app", app);
        dir.Write("v1/etc/app.conf", "answer = 41\n"u8.ToArray());
        dir.Write("v1/data/table.txt", System.Text.Encoding.ASCII.GetBytes(string.Join('\n', Enumerable.Range(0, 50_000))));
        var name = $"{registry.Host}/fleet/delta-image";
        Publish(buildah, buildah.Build("localhost/fleet/delta-image:v1", dir["v1/bin"], dir["v1/etc"], dir["v1/data"]), dir, $"docker://{name}:stable", encoder);
        string Digest() => JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", "--tls-verify=false", $"docker://{name}:stable")).RootElement.GetProperty("Digest").GetString()!;
        (int Code, string Output) Pull() => ExternalTool.Run(Binaries.Doras, "pull", $"{name}:stable", "--plain-http", "--allow-http",
            "--server", server.Url.ToString(), "--image-layout", dir["layout"]);
        var (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(LayoutDigest(dir["layout"], "stable"), Is.EqualTo(Digest()));

        // v2: a few bytes of the 2 MB executable change, and the config file; the data layer is built again alike.
        app[1_000_000] ^= 0xFF;
        app[1_500_000] ^= 0xFF;
        dir.Write("v2/bin/app", app);
        dir.Write("v2/etc/app.conf", "answer = 42\n"u8.ToArray());
        dir.Write("v2/data/table.txt", File.ReadAllBytes(dir["v1/data/table.txt"]));
        File.SetLastWriteTimeUtc(dir["v2/data/table.txt"], File.GetLastWriteTimeUtc(dir["v1/data/table.txt"]));
        Publish(buildah, buildah.Build("localhost/fleet/delta-image:v2", dir["v2/bin"], dir["v2/etc"], dir["v2/data"]), dir, $"docker://{name}:stable", encoder);
        var v2 = Digest();

        (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith($"delta update: {dir["layout"]}:stable is now {v2}"), output);
        var bytes = Bytes().Match(output);
        Assert.That(bytes.Success, Is.True, output);
        var (downloaded, plainPull) = (long.Parse(bytes.Groups[1].Value), (long)(double.Parse(bytes.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) * 1024));
        Assert.That(plainPull, Is.GreaterThan(500_000), "a plain pull downloads the changed executable's whole layer");
        Assert.That(downloaded, Is.LessThan(plainPull / 20), "the delta costs about the changed bytes, not the layer: " + output);
        Assert.That(LayoutDigest(dir["layout"], "stable"), Is.EqualTo(v2), "the registry's exact manifest");
        ExternalTool.RunOk("skopeo", "copy", $"oci:{dir["layout"]}:stable", $"dir:{dir["copied"]}"); // every blob readable and verified by skopeo
        Assert.That(File.ReadAllBytes(Path.Combine(dir["copied"], "manifest.json")), Is.EqualTo(File.ReadAllBytes(dir["layout/blobs/sha256/" + v2[7..]])));
        Assert.That(Directory.GetDirectories(dir["layout"], ".doras-image-delta-*"), Is.Empty, "no work left behind");

        // The README's podman hook: the image goes into containers-storage (vfs, a storage of this test's own) as it is.
        var storage = $"containers-storage:[vfs@{dir["podman-root"]}+{dir["podman-runroot"]}]";
        ExternalTool.RunOk("skopeo", "copy", $"oci:{dir["layout"]}:stable", storage + "localhost/fleet/app:stable");
        Assert.That(JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", storage + "localhost/fleet/app:stable")).RootElement.GetProperty("Layers").GetArrayLength(), Is.EqualTo(3));
    }

    [Test, CancelAfter(300_000)]
    public async Task In_a_multi_platform_index_each_device_gets_its_own_platforms_image_by_delta()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var buildah = new Buildah(dir);
        var name = $"{registry.Host}/fleet/multi";
        byte[] App(string arch, int version)
        {
            var app = TestData.Binary(1_000_000, arch == "amd64" ? 1 : 2);
            app[400_000] = (byte)version;
            return app;
        }
        void Publish(int version)
        {
            foreach (var arch in new[] { "amd64", "arm64" })
            {
                dir.Write($"v{version}-{arch}/bin/app", App(arch, version));
                dir.Write($"v{version}-{arch}/etc/app.conf", System.Text.Encoding.ASCII.GetBytes($"version = {version}\n"));
                buildah.BuildFor(arch, "scratch", $"localhost/fleet/multi:v{version}-{arch}", dir[$"v{version}-{arch}/bin"], dir[$"v{version}-{arch}/etc"]);
            }
            buildah.PushIndex($"localhost/fleet/multi-list:v{version}", [$"localhost/fleet/multi:v{version}-amd64", $"localhost/fleet/multi:v{version}-arm64"], $"docker://{name}:stable");
        }
        // The index's entry for the platform, as skopeo reads it raw from the registry.
        string PlatformDigest(string arch) => JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{name}:stable"))
            .RootElement.GetProperty("manifests").EnumerateArray().Single(m => m.GetProperty("platform").GetProperty("architecture").GetString() == arch)
            .GetProperty("digest").GetString()!;
        (int Code, string Output) Pull(string arch) => ExternalTool.Run(Binaries.Doras, "pull", $"{name}:stable", "--plain-http", "--allow-http",
            "--server", server.Url.ToString(), "--image-layout", dir[$"layout-{arch}"], "--platform", $"linux/{arch}");

        Publish(1);
        foreach (var arch in new[] { "amd64", "arm64" })
        {
            var (code, output) = Pull(arch);
            Assert.That(code, Is.Zero, output);
            Assert.That(LayoutDigest(dir[$"layout-{arch}"], "stable"), Is.EqualTo(PlatformDigest(arch)));
        }
        Publish(2);
        foreach (var arch in new[] { "amd64", "arm64" })
        {
            var (code, output) = Pull(arch);
            Assert.That(code, Is.Zero, output);
            Assert.That(output, Does.StartWith($"delta update: {dir[$"layout-{arch}"]}:stable is now {PlatformDigest(arch)}"), "each platform's own manifest, by delta");
            Assert.That(LayoutDigest(dir[$"layout-{arch}"], "stable"), Is.EqualTo(PlatformDigest(arch)));
            using var config = JsonDocument.Parse(ExternalTool.RunOk("skopeo", "inspect", "--config", $"oci:{dir[$"layout-{arch}"]}:stable"));
            Assert.That(config.RootElement.GetProperty("architecture").GetString(), Is.EqualTo(arch));
        }
    }

    /// <summary>A layer whose tar writes outside the image's root (consistent digests and diff_ids) is refused; the old image stays.</summary>
    [Test, CancelAfter(300_000)]
    public async Task An_image_whose_layer_escapes_its_root_is_refused_and_the_old_image_stays()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var buildah = new Buildah(dir);
        dir.Write("v1/etc/app.conf", "answer = 41\n"u8.ToArray());
        var name = $"{registry.Host}/fleet/escape";
        Publish(buildah, buildah.Build("localhost/fleet/escape:v1", dir["v1/etc"]), dir, $"docker://{name}:stable", "buildah-gzip");
        (int Code, string Output) Pull() => ExternalTool.Run(Binaries.Doras, "pull", $"{name}:stable", "--plain-http", "--allow-http",
            "--server", server.Url.ToString(), "--image-layout", dir["layout"]);
        var (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        var v1 = LayoutDigest(dir["layout"], "stable");

        foreach (var (path, hardLinkTo) in new[] { ("../../etc/cron.d/evil", (string?)null), ("/etc/passwd", null), ("etc/link", "../../../etc/shadow") })
        {
            var tar = new MemoryStream();
            using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
            {
                writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "etc/app.conf") { DataStream = new MemoryStream("answer = 42\n"u8.ToArray()) });
                writer.WriteEntry(hardLinkTo is null
                    ? new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, path) { DataStream = new MemoryStream("x"u8.ToArray()) }
                    : new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.HardLink, path) { LinkName = hardLinkTo });
            }
            var layout = dir["hostile-" + Guid.NewGuid().ToString("N")];
            buildah.Push("localhost/fleet/escape:v1", $"oci:{layout}:t");
            LayoutRecompression.ReplaceLayer(layout, "t", 0, tar.ToArray());
            ExternalTool.RunOk("skopeo", "copy", "--dest-tls-verify=false", $"oci:{layout}:t", $"docker://{name}:stable");

            (code, output) = Pull();
            Assert.That(code, Is.Not.Zero, output);
            Assert.That(output, Does.Contain($"'{hardLinkTo ?? path}' would be written outside the image's root"), output);
            Assert.That(LayoutDigest(dir["layout"], "stable"), Is.EqualTo(v1), "the old image stays");
        }
    }
}

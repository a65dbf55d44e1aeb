using System.Formats.Tar;
using System.IO.Compression;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Tests.Images;

/// <summary>
/// The image model reads real multi-layer images built by buildah (OCI and Docker schema 2, gzip and zstd layers):
/// each layer with its diff_id, its tar read back and checked; and refuses what disagrees or is hostile.
/// </summary>
public class ImageModelTests
{
    private static (OciLayoutRepository Layout, string Image) ThreeLayerImage(TempDirectory dir, string format, string compression)
    {
        dir.Write("ctx/bin/app", TestData.Binary(150_000, 1));
        dir.Write("ctx/etc/app.conf", "answer = 42\n"u8.ToArray());
        dir.Write("ctx/data/table.txt", System.Text.Encoding.ASCII.GetBytes(string.Join('\n', Enumerable.Range(0, 5000))));
        var buildah = new Buildah(dir);
        var image = buildah.Build("localhost/test/app:v1", dir["ctx/bin"], dir["ctx/etc"], dir["ctx/data"]);
        buildah.Push(image, $"oci:{dir["layout"]}:v1", format, compression);
        return (new OciLayoutRepository("layout", dir["layout"]), image);
    }

    [TestCase("oci", "gzip", MediaTypes.LayerTarGzip, LayerCompression.Gzip)]
    [TestCase("v2s2", "gzip", LayerMediaTypes.DockerGzip, LayerCompression.Gzip)]
    [TestCase("oci", "zstd", MediaTypes.LayerTarZstd, LayerCompression.Zstd)]
    public async Task A_buildah_image_reads_as_three_layers_whose_tars_match_their_diff_ids(string format, string compression, string layerType, LayerCompression expected)
    {
        using var dir = new TempDirectory();
        var (layout, _) = ThreeLayerImage(dir, format, compression);
        var image = await OciImage.ReadAsync(layout, await layout.ResolveAsync("v1"));
        Assert.That(image.Layers, Has.Count.EqualTo(3));
        Assert.That(image.Layers.Select(l => l.Descriptor.MediaType), Is.All.EqualTo(layerType));
        Assert.That(image.Layers.Select(l => l.Compression), Is.All.EqualTo(expected));
        Assert.That(image.Config.Os, Is.EqualTo("linux"));
        string[][] expectedNames = [["bin/", "bin/app"], ["etc/", "etc/app.conf"], ["data/", "data/table.txt"]];
        for (var i = 0; i < 3; i++)
        {
            await using var tar = await image.Layers[i].OpenUncompressedAsync(layout, 1 << 30);
            var names = new List<string>();
            await using (var reader = new TarReader(tar, leaveOpen: true))
                while (await reader.GetNextEntryAsync() is { } entry) names.Add(entry.Name);
            await tar.CopyToAsync(Stream.Null); // to the end: the diff_id is checked there
            Assert.That(names.Select(n => n.TrimStart('.', '/')), Is.SupersetOf(expectedNames[i]), $"layer {i}");
        }
    }

    [Test]
    public async Task A_layer_whose_tar_disagrees_with_its_diff_id_is_refused_at_its_end()
    {
        using var dir = new TempDirectory();
        var (layout, _) = ThreeLayerImage(dir, "oci", "gzip");
        var image = await OciImage.ReadAsync(layout, await layout.ResolveAsync("v1"));
        var lying = image.Layers[1] with { DiffId = image.Layers[0].DiffId };
        await using var tar = await lying.OpenUncompressedAsync(layout, 1 << 30);
        Assert.That(async () => await tar.CopyToAsync(Stream.Null), Throws.TypeOf<DigestMismatchException>()
            .With.Message.EqualTo($"layer {lying.Descriptor.Digest}: the uncompressed layer is {image.Layers[1].DiffId}, but the config's diff_id says {image.Layers[0].DiffId}"));
    }

    [Test, CancelAfter(60_000)]
    public async Task A_gzip_bomb_layer_stops_at_the_limit()
    {
        using var dir = new TempDirectory();
        var repository = new OciLayoutRepository("bomb", dir["bomb"]);
        var bomb = new MemoryStream();
        await using (var gzip = new GZipStream(bomb, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 1024; i++) await gzip.WriteAsync(zeros); // 1 GiB of zeros, about 1 MiB compressed
        }
        var layer = await repository.PushBytesAsync(MediaTypes.LayerTarGzip, bomb.ToArray());
        var image = new ImageLayer(layer, Digest.Compute("x"u8), LayerCompression.Gzip, IsForeign: false);
        await using var tar = await image.OpenUncompressedAsync(repository, 16 << 20);
        Assert.That(async () => await tar.CopyToAsync(Stream.Null), Throws.TypeOf<InvalidDataException>()
            .With.Message.EqualTo($"layer {layer.Digest}: the uncompressed layer is over {16 << 20} bytes (a decompression bomb, or over the limit)"));
    }

    [Test]
    public async Task Ten_thousand_layers_and_a_count_mismatch_are_refused_before_any_layer_is_read()
    {
        using var dir = new TempDirectory();
        var (layout, _) = ThreeLayerImage(dir, "oci", "gzip");
        var image = await OciImage.ReadAsync(layout, await layout.ResolveAsync("v1"));
        var many = await layout.PushManifestAsync(image.Manifest with { Layers = [.. Enumerable.Repeat(image.Manifest.Layers[0], 10_000)] }, ["many"]);
        Assert.That(() => OciImage.ReadAsync(layout, many), Throws.TypeOf<InvalidDataException>().With.Message.EqualTo($"layout@{many.Digest} has 10000 layers; more than 1000 is refused"));
        var fewer = await layout.PushManifestAsync(image.Manifest with { Layers = image.Manifest.Layers.Take(2).ToList() }, ["fewer"]);
        Assert.That(() => OciImage.ReadAsync(layout, fewer), Throws.TypeOf<InvalidDataException>().With.Message.EqualTo($"layout@{fewer.Digest} has 2 layers but its config lists 3 diff_ids"));
    }

    [Test, CancelAfter(300_000)]
    public async Task An_image_whose_layer_disagrees_with_its_diff_id_is_refused_and_the_layout_keeps_the_old_image()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var (built, _) = ThreeLayerImage(dir, "oci", "gzip");
        var store = server.Store.Repository("fleet/image");
        await GraphCopy.CopyAsync(built, "v1", store, ["stable"]);
        var good = await store.ResolveAsync("stable");
        var updater = new Doras.EdgeClient.Images.ImageUpdater(LoopbackDeltaClient.Create(server.Url));
        var options = new Doras.EdgeClient.Images.ImageUpdateOptions { Reference = "fleet/image:stable", Layout = dir["device"] };
        await updater.UpdateAsync(options);

        // The same layers under a config whose first diff_id is the second layer's: every digest the registry checks holds.
        var image = await OciImage.ReadAsync(built, await built.ResolveAsync("v1"));
        var config = System.Text.Json.Nodes.JsonNode.Parse(image.Config.Bytes)!;
        config["rootfs"]!["diff_ids"]![0] = image.Layers[1].DiffId.ToString();
        var lyingConfig = await store.PushBytesAsync(MediaTypes.ImageConfig, System.Text.Encoding.UTF8.GetBytes(config.ToJsonString()));
        await store.PushManifestAsync(image.Manifest with { Config = lyingConfig }, ["stable"]);

        // A device that has the layers already (checked before), and one that has none: both refuse, neither tags it.
        Assert.That(() => updater.UpdateAsync(options), Throws.TypeOf<DigestMismatchException>().With.Message.Contains("but the config's diff_id says"));
        Assert.That((await new OciLayoutRepository("device", dir["device"]).ResolveAsync("stable")).Digest, Is.EqualTo(good.Digest), "the old image stays");
        Assert.That(() => updater.UpdateAsync(options with { Layout = dir["fresh"] }), Throws.TypeOf<DigestMismatchException>().With.Message.Contains("but the config's diff_id says"));
        Assert.That(await new OciLayoutRepository("fresh", dir["fresh"]).TryResolveAsync("stable"), Is.Null, "the broken image is never tagged");
    }
}

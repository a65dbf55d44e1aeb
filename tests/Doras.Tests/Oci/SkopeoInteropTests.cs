using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

/// <summary>skopeo, an independent OCI client, reads the layouts we write, and we read the ones it writes.</summary>
public class SkopeoInteropTests
{
    [Test]
    public async Task Skopeo_reads_our_layout_and_we_read_what_skopeo_writes()
    {
        using var dir = new TempDirectory();
        var ours = new OciLayoutStore(dir["ours"]).Open("fleet/firmware");
        var content = TestData.Binary(512 * 1024, 7);
        var published = await ArtifactPublisher.PublishAsync(ours, dir.Write("release/fw.bin", content), ["v1"]);
        var ourManifest = await ours.FetchBytesAsync(published.Manifest);

        // skopeo reads our manifest byte for byte.
        var raw = ExternalTool.RunOk("skopeo", "inspect", "--raw", $"oci:{ours.Directory}:v1");
        Assert.That(raw.Trim(), Is.EqualTo(System.Text.Encoding.UTF8.GetString(ourManifest)));

        // skopeo copies our layout into a layout of its own writing...
        var theirsPath = dir["theirs/fleet/firmware"];
        Directory.CreateDirectory(theirsPath);
        ExternalTool.RunOk("skopeo", "copy", $"oci:{ours.Directory}:v1", $"oci:{theirsPath}:copied");

        // ...which we read: same manifest digest, same content.
        var theirs = new OciLayoutStore(dir["theirs"]).Open("fleet/firmware");
        var resolved = await theirs.ResolveAsync("copied");
        Assert.That(resolved.Digest, Is.EqualTo(published.Manifest.Digest));
        var layer = ArtifactLayer.From(await theirs.FetchManifestAsync(resolved), "copied");
        await layer.DownloadContentAsync(theirs, dir["roundtrip"]);
        Assert.That(File.ReadAllBytes(dir["roundtrip"]), Is.EqualTo(content));
    }

    [Test]
    public async Task We_read_a_container_image_layout_written_by_skopeo()
    {
        using var dir = new TempDirectory();
        // An image layout in skopeo's own hands: copy a hand-made one through skopeo to get skopeo's writing.
        var source = new OciLayoutStore(dir["src"]).Open("img");
        var tarGz = new MemoryStream();
        await using (var gzip = new System.IO.Compression.GZipStream(tarGz, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        await using (var tar = new System.Formats.Tar.TarWriter(gzip))
        {
            var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "hello.txt") { DataStream = new MemoryStream(TestData.Random(2048, 9)) };
            await tar.WriteEntryAsync(entry);
        }
        var layer = tarGz.ToArray();
        var layerDescriptor = Descriptor.FromBytes(MediaTypes.LayerTarGzip, layer);
        await source.PushAsync(layerDescriptor, new MemoryStream(layer));
        var config = await source.PushBytesAsync(MediaTypes.ImageConfig, """{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""u8.ToArray());
        await source.PushManifestAsync(new ImageManifest { Config = config, Layers = [layerDescriptor] }, ["1.0"]);

        var target = dir["skopeo-written/img"];
        Directory.CreateDirectory(target);
        ExternalTool.RunOk("skopeo", "copy", $"oci:{source.Directory}:1.0", $"oci:{target}:2.0");
        var written = new OciLayoutStore(dir["skopeo-written"]).Open("img");
        var manifest = await written.FetchManifestAsync(await written.ResolveAsync("2.0"));
        Assert.That(manifest.Config.MediaType, Is.EqualTo(MediaTypes.ImageConfig));
        await using var stream = await written.FetchAsync(manifest.Layers.Single());
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.That(copy.ToArray(), Is.EqualTo(layer));
    }
}

using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Remote;

namespace Doras.Tests.Registry;

/// <summary>What we push to a real registry, skopeo reads byte for byte; what skopeo pushes, we read.</summary>
public class SkopeoRegistryInteropTests
{
    [Test]
    public async Task We_push_skopeo_reads_and_skopeo_pushes_we_read()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        using var dir = new TempDirectory();
        var content = TestData.Binary(700_000, 1);

        // Ours -> registry -> skopeo.
        var ours = client.Repository("fleet/fw");
        var published = await ArtifactPublisher.PublishAsync(ours, dir.Write("rel/fw.bin", content), ["v1"]);
        var manifestBytes = await ours.FetchBytesAsync(published.Manifest);
        var raw = ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{registry.Host}/fleet/fw:v1");
        Assert.That(raw.Trim(), Is.EqualTo(System.Text.Encoding.UTF8.GetString(manifestBytes)));
        var copied = dir["skopeo-copy"];
        Directory.CreateDirectory(copied);
        ExternalTool.RunOk("skopeo", "copy", "--src-tls-verify=false", $"docker://{registry.Host}/fleet/fw:v1", $"oci:{copied}:v1");
        var layout = new OciLayoutRepository("fw", copied);
        var layer = ArtifactLayer.From(await layout.FetchManifestAsync(await layout.ResolveAsync("v1")), "v1");
        await layer.DownloadContentAsync(layout, dir["via-skopeo"]);
        Assert.That(File.ReadAllBytes(dir["via-skopeo"]), Is.EqualTo(content));

        // skopeo -> registry -> ours.
        var source = new OciLayoutStore(dir["layout"]).Open("src");
        var second = TestData.Edit(content, 2);
        var sourcePublished = await ArtifactPublisher.PublishAsync(source, dir.Write("rel2/fw.bin", second), ["v2"]);
        ExternalTool.RunOk("skopeo", "copy", "--dest-tls-verify=false", $"oci:{source.Directory}:v2", $"docker://{registry.Host}/fleet/other:v2");
        var theirs = client.Repository("fleet/other");
        var resolved = await theirs.ResolveAsync("v2");
        Assert.That(resolved.Digest, Is.EqualTo(sourcePublished.Manifest.Digest));
        var theirLayer = ArtifactLayer.From(await theirs.FetchManifestAsync(resolved), "v2");
        await theirLayer.DownloadContentAsync(theirs, dir["via-registry"]);
        Assert.That(File.ReadAllBytes(dir["via-registry"]), Is.EqualTo(second));
    }
}

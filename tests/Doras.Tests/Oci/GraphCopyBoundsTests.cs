using Doras.Oci.Content;
using Doras.Oci.Memory;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

/// <summary>Found by review: indexes that list their child twice, nested, cost each node once, and nesting past its bound is refused.</summary>
public class GraphCopyBoundsTests
{
    private static async Task<(InMemoryOciRepository Source, Descriptor Top)> DoublingIndexesAsync(int depth)
    {
        var source = new InMemoryOciStore().Open("fleet/app");
        var layer = await source.PushBytesAsync(MediaTypes.OctetStream, "v1"u8.ToArray());
        await source.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var node = await source.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, []);
        for (var i = 0; i < depth; i++)
            node = await source.PushIndexAsync(new ImageIndex { Manifests = [node, node], Annotations = new Dictionary<string, string> { ["level"] = i.ToString() } }, []);
        await source.TagAsync(node, "top");
        return (source, node);
    }

    [Test, CancelAfter(20_000)]
    public async Task Nested_indexes_listing_their_child_twice_copy_each_node_once()
    {
        var (source, top) = await DoublingIndexesAsync(8); // 2^8 paths to the one manifest
        var target = new InMemoryOciStore().Open("mirror/app");
        var copied = new List<string>();
        await GraphCopy.CopyAsync(source, "top", target, ["top"], new CopyOptions { Progress = new SynchronousProgress<(Descriptor, string)>(p => copied.Add(p.Item2)) });
        Assert.That(await target.TryResolveAsync("top"), Is.EqualTo(top).Using<Descriptor>((a, b) => a.Digest == b.Digest));
        Assert.That(copied, Has.Count.LessThanOrEqualTo(2), "the manifest's two blobs, once");
    }

    [Test, CancelAfter(20_000)]
    public async Task Indexes_nested_past_the_bound_are_refused()
    {
        var (source, top) = await DoublingIndexesAsync(12);
        var target = new InMemoryOciStore().Open("mirror/app");
        Assert.That(() => GraphCopy.CopyAsync(source, "top", target, ["top"]), Throws.TypeOf<InvalidDataException>()
            .With.Message.Contains("the graph is nested deeper than 8"));
        Assert.That(await target.TryResolveAsync("top"), Is.Null);
    }
}

using System.Text.Json;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

public class LayoutStoreTests
{
    private TempDirectory _dir = null!;
    private OciLayoutRepository _repo = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _repo = new OciLayoutStore(_dir.Path).Open("test/app");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task Pushes_fetches_tags_and_resolves_in_the_standard_layout()
    {
        var blob = TestData.Random(300_000, 1);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, blob);
        await _repo.PushAsync(descriptor, new MemoryStream(blob));
        var manifest = new ImageManifest { Config = Descriptor.EmptyJson, Layers = [descriptor] };
        await _repo.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var manifestDescriptor = await _repo.PushManifestAsync(manifest, ["v1", "latest"]);

        Assert.That(File.ReadAllText(_dir["test/app/oci-layout"]), Is.EqualTo("{\"imageLayoutVersion\":\"1.0.0\"}"));
        Assert.That(File.ReadAllBytes(_dir[$"test/app/blobs/sha256/{descriptor.Digest.Hex}"]), Is.EqualTo(blob));
        using var index = JsonDocument.Parse(File.ReadAllText(_dir["test/app/index.json"]));
        var refs = index.RootElement.GetProperty("manifests").EnumerateArray()
            .Select(m => m.GetProperty("annotations").GetProperty(Annotations.RefName).GetString()).ToList();
        Assert.That(refs, Is.EquivalentTo(new[] { "v1", "latest" }));

        var resolved = await _repo.ResolveAsync("v1");
        Assert.That(resolved.Digest, Is.EqualTo(manifestDescriptor.Digest));
        Assert.That((await _repo.ResolveAsync(manifestDescriptor.Digest.ToString())).MediaType, Is.EqualTo(MediaTypes.ImageManifest));
        var fetched = await _repo.FetchManifestAsync(resolved);
        Assert.That(fetched.Layers.Single().Digest, Is.EqualTo(descriptor.Digest));
        var tags = new List<string>();
        await foreach (var t in _repo.ListTagsAsync()) tags.Add(t);
        Assert.That(tags, Is.EquivalentTo(new[] { "v1", "latest" }));
        Assert.That(await _repo.TryResolveAsync("missing"), Is.Null);
    }

    [Test]
    public async Task Retagging_moves_the_tag()
    {
        var first = await _repo.PushManifestAsync(Manifest("a"), ["stable"]);
        var second = await _repo.PushManifestAsync(Manifest("b"), ["stable"]);
        Assert.That(first.Digest, Is.Not.EqualTo(second.Digest));
        Assert.That((await _repo.ResolveAsync("stable")).Digest, Is.EqualTo(second.Digest));
    }

    [Test]
    public async Task A_conditional_untag_leaves_a_tag_that_moved_since_it_was_read()
    {
        // As garbage collection judges an expired placeholder, and a builder claims the delta anew before it deletes.
        var judged = await _repo.PushManifestAsync(Manifest("expired placeholder"), ["_delta-x"]);
        var claimed = await _repo.PushManifestAsync(Manifest("fresh placeholder"), ["_delta-x"]);

        await _repo.UntagAsync("_delta-x", judged.Digest);
        Assert.That((await _repo.ResolveAsync("_delta-x")).Digest, Is.EqualTo(claimed.Digest), "the fresh placeholder stays");

        await _repo.UntagAsync("_delta-x", claimed.Digest);
        Assert.That(await _repo.TryResolveAsync("_delta-x"), Is.Null);
    }

    [Test]
    public async Task Refuses_content_that_does_not_match_its_digest_and_stores_nothing()
    {
        var blob = TestData.Random(1000, 2);
        var claimed = Descriptor.FromBytes(MediaTypes.OctetStream, blob);
        blob[10] ^= 0xff;
        await Assert.ThrowsAsync<DigestMismatchException>(() => _repo.PushAsync(claimed, new MemoryStream(blob)));
        Assert.That(File.Exists(_dir[$"test/app/blobs/sha256/{claimed.Digest.Hex}"]), Is.False);
        Assert.That(Directory.EnumerateFiles(_dir["test/app/.ingest"]), Is.Empty, "temporary files are cleaned up");
    }

    [Test]
    public async Task Fetch_detects_a_blob_corrupted_on_disk()
    {
        var blob = TestData.Random(5000, 3);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, blob);
        await _repo.PushAsync(descriptor, new MemoryStream(blob));
        var path = _dir[$"test/app/blobs/sha256/{descriptor.Digest.Hex}"];
        var onDisk = File.ReadAllBytes(path);
        onDisk[0] ^= 1;
        File.WriteAllBytes(path, onDisk);
        await using var stream = await _repo.FetchAsync(descriptor);
        await Assert.ThrowsAsync<DigestMismatchException>(() => stream.CopyToAsync(Stream.Null));
    }

    [Test]
    public async Task Tagging_a_manifest_that_is_not_stored_fails()
    {
        var error = (await Assert.ThrowsAsync<NotFoundException>(() => _repo.TagAsync(Descriptor.FromBytes(MediaTypes.ImageManifest, "{}"u8), "v1")))!;
        Assert.That(error.Message, Does.Contain("is not stored"));
    }

    [Test]
    public void Rejects_repository_names_that_could_escape_the_store()
    {
        var store = new OciLayoutStore(_dir.Path);
        Assert.Throws<FormatException>(() => store.Repository("../outside"));
        Assert.Throws<FormatException>(() => store.Repository("/abs"));
    }

    [Test]
    public async Task Concurrent_writers_in_parallel_lose_no_tag_and_no_blob()
    {
        const int writers = 24;
        // Separate store objects, as separate processes would have.
        var tasks = Enumerable.Range(0, writers).Select(i => Task.Run(async () =>
        {
            var repo = new OciLayoutStore(_dir.Path).Open("test/app");
            await repo.PushManifestAsync(Manifest($"writer {i}"), [$"t{i}", "shared"]);
        }));
        await Task.WhenAll(tasks);

        var tags = new List<string>();
        await foreach (var t in _repo.ListTagsAsync()) tags.Add(t);
        Assert.That(tags, Has.Count.EqualTo(writers + 1));
        for (var i = 0; i < writers; i++)
        {
            var resolved = await _repo.ResolveAsync($"t{i}");
            var manifest = await _repo.FetchManifestAsync(resolved);
            Assert.That(manifest.Annotation("note"), Is.EqualTo($"writer {i}"));
        }
        Assert.That(Directory.GetFiles(_dir["test/app"], "*.tmp", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Published_compressed_artifact_reads_back_to_the_original_bytes()
    {
        var content = TestData.Binary(1 << 20, 5);
        var file = _dir.Write("release/firmware.bin", content);
        var result = await ArtifactPublisher.PublishAsync(_repo, file, ["v1"]);
        Assert.That(result.Layer.Kind, Is.EqualTo(ArtifactKind.File));
        Assert.That(result.Layer.Name, Is.EqualTo("firmware.bin"));
        Assert.That(result.Layer.ContentDigest, Is.EqualTo(Digest.Compute(content)));
        Assert.That(result.Layer.Layer.Size, Is.LessThan(content.Length), "the layer is compressed");

        var path = _dir["out"];
        await result.Layer.DownloadContentAsync(_repo, path);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(content));
    }

    private ImageManifest Manifest(string note) => new()
    {
        Config = Descriptor.EmptyJson,
        Layers = [],
        Annotations = new Dictionary<string, string> { ["note"] = note },
    };
}

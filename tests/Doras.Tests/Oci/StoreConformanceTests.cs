using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Memory;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Tests.Oci;

/// <summary>
/// The same operations against every store (in memory, a layout directory, a real registry): what one store does,
/// the others must do alike, so a caller that asks for a role works with whichever store it is given.
/// </summary>
[TestFixture("memory")]
[TestFixture("layout")]
[TestFixture("registry")]
public class StoreConformanceTests(string kind)
{
    private RegistryProcess? _registry;
    private RegistryClient? _client;
    private TempDirectory? _dir;
    private IOciStore _store = null!;

    [OneTimeSetUp]
    public async Task OpenStore()
    {
        switch (kind)
        {
            case "memory":
                _store = new InMemoryOciStore();
                break;
            case "layout":
                _dir = new TempDirectory();
                _store = new OciLayoutStore(_dir.Path);
                break;
            default:
                _registry = await RegistryProcess.StartAsync();
                _store = _client = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true });
                break;
        }
    }

    [OneTimeTearDown]
    public async Task CloseStore()
    {
        _client?.Dispose();
        if (_registry is not null) await _registry.DisposeAsync();
        _dir?.Dispose();
    }

    private static string NewName() => "conformance/r" + Guid.NewGuid().ToString("N")[..12];

    private IOciRepository NewRepository() => _store.Repository(NewName());

    private static async Task<Descriptor> PushVersionAsync(IOciRepository repository, int seed, IEnumerable<string> tags)
    {
        var layer = await repository.PushBytesAsync(MediaTypes.OctetStream, TestData.Random(2000, seed));
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        return await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, tags);
    }

    private static async Task<List<string>> TagsAsync(IReadOnlyOciRepository repository)
    {
        var tags = new List<string>();
        await foreach (var tag in repository.ListTagsAsync()) tags.Add(tag);
        return tags.Order(StringComparer.Ordinal).ToList();
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    [Test]
    public void Each_store_has_exactly_its_roles()
    {
        var repository = NewRepository();
        var roles = new (Type Role, bool Has)[]
        {
            (typeof(IManifestStat), true), (typeof(IManifestDeleter), true), (typeof(IReferrerLister), true), (typeof(ISeekableBlobSource), true),
            (typeof(IUntagger), kind != "registry"), (typeof(IBlobDeleter), kind != "layout"), (typeof(IBlobMounter), kind != "layout"),
            (typeof(IPushPermission), kind == "registry"), (typeof(IGarbageSweeper), kind == "layout"), (typeof(IRepositoryLock), kind == "layout"),
        };
        foreach (var (role, has) in roles)
            Assert.That(role.IsInstanceOfType(repository), Is.EqualTo(has), $"{kind} repository as {role.Name}");
        Assert.That(_store is IRepositoryLister, Is.True);
        Assert.That(_store is IChangeStamps, Is.EqualTo(kind != "registry"));
        Assert.That(_store is IStoreProbe, Is.EqualTo(kind != "memory"));
    }

    [Test]
    public async Task Pushed_blobs_are_fetched_whole_from_an_offset_and_seekable()
    {
        var repository = NewRepository();
        var content = TestData.Random(100_000, 1);
        var blob = Descriptor.FromBytes(MediaTypes.OctetStream, content);
        Assert.That(await repository.ExistsAsync(blob), Is.False);
        await repository.PushAsync(blob, new MemoryStream(content));
        Assert.That(await repository.ExistsAsync(blob), Is.True);
        Assert.That(await ReadAllAsync(await repository.FetchAsync(blob)), Is.EqualTo(content));
        Assert.That(await ReadAllAsync(await repository.FetchFromAsync(blob, 60_000)), Is.EqualTo(content[60_000..]));

        var seekable = await ((ISeekableBlobSource)repository).OpenSeekableAsync(blob.Digest);
        await using (seekable)
        {
            Assert.That(seekable!.Length, Is.EqualTo(content.Length));
            seekable.Seek(99_000, SeekOrigin.Begin);
            Assert.That(await ReadAllAsync(seekable), Is.EqualTo(content[99_000..]));
        }
        var missing = Descriptor.FromBytes(MediaTypes.OctetStream, TestData.Random(10, 2));
        Assert.That(await ((ISeekableBlobSource)repository).OpenSeekableAsync(missing.Digest), Is.Null);
        Assert.That(await repository.ExistsAsync(missing), Is.False);
    }

    [Test]
    public async Task Content_that_does_not_match_its_digest_is_refused()
    {
        var repository = NewRepository();
        var content = TestData.Random(1000, 3);
        var blob = Descriptor.FromBytes(MediaTypes.OctetStream, content);
        content[0] ^= 1;
        await Assert.CatchAsync(() => repository.PushAsync(blob, new MemoryStream(content)));
        Assert.That(await repository.ExistsAsync(blob), Is.False);
    }

    [Test]
    public async Task Manifests_resolve_by_tag_and_digest_and_tags_list_and_move()
    {
        var repository = NewRepository();
        var v1 = await PushVersionAsync(repository, 10, ["v1", "latest"]);
        var v2 = await PushVersionAsync(repository, 11, ["v2"]);

        foreach (var name in new[] { "v1", "latest", v1.Digest.ToString() })
        {
            var resolved = await repository.ResolveAsync(name);
            Assert.That((resolved.MediaType, resolved.Digest, resolved.Size), Is.EqualTo((MediaTypes.ImageManifest, v1.Digest, v1.Size)), name);
        }
        Assert.That(await repository.TryResolveAsync("v3"), Is.Null);
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "latest", "v1", "v2" }));
        Assert.That((await repository.FetchBytesAsync(v1)).Length, Is.EqualTo(v1.Size)); // verified against v1's digest as it is read

        await repository.TagAsync(v2, "latest");
        Assert.That((await repository.ResolveAsync("latest")).Digest, Is.EqualTo(v2.Digest));
        Assert.That((await repository.ResolveAsync("v1")).Digest, Is.EqualTo(v1.Digest));
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "latest", "v1", "v2" }));
        Assert.That((await ((IManifestStat)repository).StatManifestAsync("latest"))!.Digest, Is.EqualTo(v2.Digest));
        Assert.That(await ((IManifestStat)repository).StatManifestAsync("v3"), Is.Null);
    }

    [Test]
    public async Task Untagging_removes_one_tag_and_keeps_the_others_on_its_manifest()
    {
        var repository = NewRepository();
        var v1 = await PushVersionAsync(repository, 20, ["v1", "stable", "old"]);
        await TagRemoval.UntagAsync(repository, "v1", v1, keep: ["stable", "old"], CancellationToken.None);
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "old", "stable" }));
        Assert.That((await repository.ResolveAsync("stable")).Digest, Is.EqualTo(v1.Digest));
        Assert.That(await repository.TryResolveAsync("v1"), Is.Null);

        if (repository is not IUntagger untagger) return;
        // A tag that names another manifest than the one judged stays.
        var v2 = await PushVersionAsync(repository, 21, []);
        await untagger.UntagAsync("old", v2.Digest);
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "old", "stable" }));
        await untagger.UntagAsync("old", v1.Digest);
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "stable" }));
    }

    [Test]
    public async Task Deleting_a_manifest_takes_every_tag_on_it_and_only_those()
    {
        var repository = NewRepository();
        var doomed = await PushVersionAsync(repository, 30, ["v1", "latest"]);
        var kept = await PushVersionAsync(repository, 31, ["v2"]);
        var deleter = (IManifestDeleter)repository;
        await deleter.DeleteManifestAsync(doomed.Digest);
        Assert.That(await TagsAsync(repository), Is.EqualTo(new[] { "v2" }));
        Assert.That(await repository.TryResolveAsync("v1"), Is.Null);
        Assert.That(await repository.TryResolveAsync("latest"), Is.Null);
        Assert.That((await repository.ResolveAsync("v2")).Digest, Is.EqualTo(kept.Digest));
        var again = await Assert.ThrowsAsync<NotFoundException>(() => deleter.DeleteManifestAsync(doomed.Digest));
        Assert.That(again!.Message, Does.Contain(doomed.Digest.ToString()));
    }

    [Test]
    public async Task Referrers_are_listed_with_their_artifact_types_and_annotations()
    {
        var repository = NewRepository();
        var subject = await PushVersionAsync(repository, 40, ["v1"]);
        var lister = (IReferrerLister)repository;
        Assert.That(await lister.ReferrersAsync(subject.Digest), Is.Empty);

        var signature = await repository.PushManifestAsync(new ImageManifest
        {
            ArtifactType = "application/vnd.example.signature", Config = Descriptor.EmptyJson, Layers = [], Subject = subject,
            Annotations = new Dictionary<string, string> { ["purpose"] = "sig" },
        }, []);
        var sbom = await repository.PushManifestAsync(new ImageManifest
        {
            ArtifactType = "application/vnd.example.sbom", Config = Descriptor.EmptyJson, Layers = [], Subject = subject,
        }, ["sbom"]);
        await PushVersionAsync(repository, 41, ["v2"]); // no subject: no referrer

        var all = (await lister.ReferrersAsync(subject.Digest)).OrderBy(d => d.ArtifactType, StringComparer.Ordinal).ToList();
        Assert.That(all.Select(d => (d.MediaType, d.Digest, d.Size, d.ArtifactType, d.Annotation("purpose"))), Is.EqualTo(new[]
        {
            (MediaTypes.ImageManifest, sbom.Digest, sbom.Size, (string?)"application/vnd.example.sbom", (string?)null),
            (MediaTypes.ImageManifest, signature.Digest, signature.Size, "application/vnd.example.signature", "sig"),
        }));
        var onlySignatures = await lister.ReferrersAsync(subject.Digest, "application/vnd.example.signature");
        Assert.That(onlySignatures.Select(d => d.Digest), Is.EqualTo(new[] { signature.Digest }));
        Assert.That(await lister.ReferrersAsync(sbom.Digest), Is.Empty);
    }

    [Test]
    public async Task Copies_between_repositories_of_one_store_mount_where_the_store_can()
    {
        var source = NewRepository();
        var target = NewRepository();
        var version = await PushVersionAsync(source, 50, ["v1"]);
        var actions = new List<string>();
        var progress = new SynchronousProgress<(Descriptor Blob, string Action)>(p => { lock (actions) actions.Add(p.Action); });
        var copied = await GraphCopy.CopyAsync(source, "v1", target, ["v1"], new CopyOptions { Progress = progress });
        Assert.That(copied.Digest, Is.EqualTo(version.Digest));
        Assert.That(actions, Is.EqualTo(new[] { kind == "layout" ? "copied" : "mounted", kind == "layout" ? "copied" : "mounted" }));
        Assert.That(await TagsAsync(target), Is.EqualTo(new[] { "v1" }));
        var layer = (await target.FetchManifestAsync(copied)).Layers.Single();
        Assert.That(await ReadAllAsync(await target.FetchAsync(layer)), Is.EqualTo(TestData.Random(2000, 50)));
    }

    [Test]
    public async Task Stores_list_their_repositories_and_stamp_tag_changes()
    {
        var name = NewName();
        var repository = _store.Repository(name);
        var stamps = _store as IChangeStamps;
        Assert.That(stamps?.ChangeStamp(name), Is.Null);
        var v1 = await PushVersionAsync(repository, 60, ["v1"]);
        var names = new List<string>();
        await foreach (var listed in ((IRepositoryLister)_store).ListRepositoriesAsync()) names.Add(listed);
        Assert.That(names, Does.Contain(name));
        if (stamps is null) return;

        var first = stamps.ChangeStamp(name);
        Assert.That(first, Is.Not.Null);
        Assert.That(stamps.ChangeStamp(name), Is.EqualTo(first));
        await repository.TagAsync(v1, "stable-release");
        Assert.That(stamps.ChangeStamp(name), Is.Not.EqualTo(first));
    }

    /// <summary>Reports on the caller's thread: <see cref="Progress{T}"/> posts, and would race the assertions.</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

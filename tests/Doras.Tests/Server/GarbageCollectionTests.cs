using System.Globalization;
using System.Text.Json;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Collection;
using Doras.Server.Deltas;

namespace Doras.Tests.Server;

/// <summary>
/// Garbage collection of deltas with real stores: the embedded store through the <c>doras-server gc</c> command,
/// a real registry through the server's collector, and the periodic run.
/// </summary>
public class GarbageCollectionTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    /// <summary>A stored delta artifact as the server writes it, made when <paramref name="created"/> says.</summary>
    private static async Task<Descriptor> PushDeltaAsync(IOciRepository repository, DeltaKey key, Digest from, Digest to, DateTimeOffset created, int seed)
    {
        var layer = await repository.PushBytesAsync("application/vnd.doras.delta.zstd-patch", TestData.Random(5000, seed));
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var manifest = new ImageManifest
        {
            ArtifactType = DorasMediaTypes.Delta,
            Config = Descriptor.EmptyJson,
            Layers = [layer],
            Annotations = new Dictionary<string, string>
            {
                [DorasAnnotations.DeltaFrom] = $"{repository.Name}@{from}",
                [DorasAnnotations.DeltaTo] = $"{repository.Name}@{to}",
                [DorasAnnotations.DeltaAlgorithm] = key.Algorithm,
                [Annotations.Created] = created.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            },
        };
        return await repository.PushManifestAsync(manifest, [key.Tag]);
    }

    private sealed record Scene(Descriptor V1, Descriptor V2, Descriptor V3, Dictionary<string, string> Doomed, List<string> Kept, Digest OldLayer);

    /// <summary>
    /// Three versions (latest two: v2, v3) and delta tags of every kind; <c>Doomed</c> maps the tags that must go to why.
    /// With KeepLatestVersions 2 and KeepRequestedWithin 1 day.
    /// </summary>
    private static async Task<Scene> SetUpAsync(IOciRepository repository, TempDirectory dir)
    {
        var content = TestData.Binary(50_000, 41);
        var v1 = await Versions.PublishFileAsync(repository, dir, "app", content, "v1");
        await Versions.NextSecondAsync(); // creation times are to the second
        var v2 = await Versions.PublishFileAsync(repository, dir, "app", TestData.Edit(content, 42), "v2");
        await Versions.NextSecondAsync();
        var v3 = await Versions.PublishFileAsync(repository, dir, "app", TestData.Edit(content, 43), "v3", "stable");
        var longAgo = Now.AddDays(-40);
        var doomed = new Dictionary<string, string>();
        var kept = new List<string>();

        var latest = new DeltaKey(repository.Name, v2.Digest, v3.Digest, "zstd");
        await PushDeltaAsync(repository, latest, v2.Digest, v3.Digest, longAgo, 1);
        kept.Add(latest.Tag);
        var old = new DeltaKey(repository.Name, v1.Digest, v3.Digest, "zstd");
        var oldManifest = await PushDeltaAsync(repository, old, v1.Digest, v3.Digest, longAgo, 2);
        doomed[old.Tag] = GcReasons.Retention;
        var recent = new DeltaKey(repository.Name, v1.Digest, v3.Digest, "bsdiff");
        await PushDeltaAsync(repository, recent, v1.Digest, v3.Digest, Now.AddHours(-2), 3);
        kept.Add(recent.Tag);
        var gone = Digest.Compute("a version that was deleted"u8);
        var orphan = new DeltaKey(repository.Name, gone, v3.Digest, "zstd");
        await PushDeltaAsync(repository, orphan, gone, v3.Digest, Now, 4);
        doomed[orphan.Tag] = GcReasons.VersionGone;

        var failedOld = new DeltaKey(repository.Name, v1.Digest, v2.Digest, "octodiff");
        await DeltaRecords.WriteFailedAsync(repository, failedOld, "it broke", false, Now.AddDays(-2), default);
        doomed[failedOld.Tag] = GcReasons.ExpiredPlaceholder;
        var failedNew = new DeltaKey(repository.Name, v1.Digest, v2.Digest, "tardiff");
        await DeltaRecords.WriteFailedAsync(repository, failedNew, "it broke just now", false, Now, default);
        kept.Add(failedNew.Tag);
        // A failed placeholder is kept Delta:MaxFailureRetention (a day) after its failure stops standing, for its count:
        // the first failure's 10 minutes, the eighth's 1,280 (Delta:FailureRetention doubled seven times).
        var failedAgain = new DeltaKey(repository.Name, v1.Digest, v2.Digest, "bsdiff-lzma");
        await DeltaRecords.WriteFailedAsync(repository, failedAgain, "it broke again and again", false, Now.AddHours(-40), default, failures: 8);
        kept.Add(failedAgain.Tag);
        var failedOnce = new DeltaKey(repository.Name, v1.Digest, v2.Digest, "bsdiff-exe");
        await DeltaRecords.WriteFailedAsync(repository, failedOnce, "it broke once", false, Now.AddHours(-40), default);
        doomed[failedOnce.Tag] = GcReasons.ExpiredPlaceholder;
        var buildingOld = new DeltaKey(repository.Name, v1.Digest, v2.Digest, "deflate");
        await DeltaRecords.WriteBuildingAsync(repository, buildingOld, "a dead instance", Now.AddHours(-2), default);
        doomed[buildingOld.Tag] = GcReasons.ExpiredPlaceholder;

        var oldLayer = (await repository.FetchManifestAsync(oldManifest)).Layers[0].Digest;
        return new Scene(v1, v2, v3, doomed, kept, oldLayer);
    }

    private static readonly string[] Policy = ["--Gc:KeepLatestVersions", "2", "--Gc:KeepRequestedWithin", "1.00:00:00", "--Gc:BlobGracePeriod", "00:00:00"];

    [Test]
    public async Task The_gc_command_lists_then_deletes_what_the_policy_drops_and_keeps_what_devices_asked_for()
    {
        using var dir = new TempDirectory();
        var storePath = dir["store"];
        Scene scene;
        string askedTag;
        await using (var server = await RunningServer.StartOnStoreAsync(storePath))
        {
            var repository = server.Store.Repository("fleet/app");
            scene = await SetUpAsync(repository, dir);
            // An old delta a device asks for today: kept, by the usage record the server writes when it stops.
            var asked = new DeltaKey("fleet/app", scene.V1.Digest, scene.V2.Digest, "zstd");
            await PushDeltaAsync(repository, asked, scene.V1.Digest, scene.V2.Digest, Now.AddDays(-40), 5);
            askedTag = asked.Tag;
            var (json, requests) = await DeltaRequests.ReadyAsync(server.Http, DeltaRequests.Query("fleet/app", scene.V1, "v2"));
            Assert.That(requests, Is.EqualTo(1));
            Assert.That(DeltaRequests.Parse(json).DeltaImage, Does.EndWith((await repository.ResolveAsync(askedTag)).Digest.ToString()));
        }
        var store = new OciLayoutStore(storePath).Open("fleet/app");
        var tagsBefore = await store.ListTagsAsync().ToListAsync();
        Assert.That(tagsBefore, Does.Contain(DeltaUsage.Tag));

        var (code, output) = ExternalTool.Run("dotnet", [Binaries.Server, "gc", "--dry-run", "--json", "--store", storePath, .. Policy]);
        Assert.That(code, Is.Zero, output);
        var report = JsonDocument.Parse(output.Split('\n').Single(l => l.StartsWith('{'))).RootElement;
        Assert.That(report.GetProperty("dry_run").GetBoolean(), Is.True);
        var listed = report.GetProperty("deleted").EnumerateArray().ToDictionary(d => d.GetProperty("tag").GetString()!, d => d.GetProperty("reason").GetString()!);
        Assert.That(listed, Is.EquivalentTo(scene.Doomed));
        Assert.That(report.GetProperty("kept").GetInt32(), Is.EqualTo(scene.Kept.Count + 1));
        Assert.That(await store.ListTagsAsync().ToListAsync(), Is.EqualTo(tagsBefore), "a dry run changes nothing");

        (code, output) = ExternalTool.Run("dotnet", [Binaries.Server, "gc", "--store", storePath, .. Policy]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain($"{scene.Doomed.Count} delta tags deleted, {scene.Kept.Count + 1} kept"));
        var tagsAfter = await store.ListTagsAsync().ToListAsync();
        Assert.That(tagsAfter, Is.EquivalentTo(tagsBefore.Except(scene.Doomed.Keys)));
        Assert.That(tagsAfter, Does.Contain(askedTag));
        Assert.That(File.Exists(Path.Combine(store.Directory, "blobs", "sha256", scene.OldLayer.Hex)), Is.False, "the dropped delta's layer is no longer referenced");
        foreach (var version in new[] { scene.V1, scene.V2, scene.V3 })
        {
            var manifest = await store.FetchManifestAsync(version);
            await using var layer = await store.FetchAsync(manifest.Layers[0]); // verified as read
            await layer.CopyToAsync(Stream.Null);
        }

        // doras tags shows the versions; --all the server's tags too.
        var (tagsCode, tags) = ExternalTool.Run(Binaries.Doras, ["tags", "fleet/app", "--store", storePath]);
        Assert.That(tagsCode, Is.Zero, tags);
        Assert.That(tags.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EquivalentTo(new[] { "v1", "v2", "v3", "stable" }));
        var (_, all) = ExternalTool.Run(Binaries.Doras, ["tags", "fleet/app", "--store", storePath, "--all"]);
        Assert.That(all.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EquivalentTo(tagsAfter));
    }

    [Test]
    public async Task In_registry_mode_dropped_deltas_are_deleted_through_the_registry_api()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var dir = new TempDirectory();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repository = client.Repository("fleet/app");
        var scene = await SetUpAsync(repository, dir);
        var digests = new Dictionary<string, Digest>();
        foreach (var tag in scene.Doomed.Keys.Concat(scene.Kept)) digests[tag] = (await repository.ResolveAsync(tag)).Digest;
        await using var server = await RunningServer.StartAsync(["--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false", "--Gc:Enabled", "false", .. Policy]);

        var report = await server.Service<GarbageCollector>().RunAsync(dryRun: false, CancellationToken.None);
        Assert.That(report.Errors, Is.Empty);
        Assert.That(report.Repositories, Is.EqualTo(new[] { "fleet/app" }), "found in the registry's catalog");
        Assert.That(report.Deleted.ToDictionary(d => d.Tag, d => d.Reason), Is.EquivalentTo(scene.Doomed));
        foreach (var tag in scene.Doomed.Keys)
        {
            Assert.That(await repository.TryResolveAsync(tag), Is.Null, tag);
            Assert.That(await repository.TryResolveAsync(digests[tag].ToString()), Is.Null, $"{tag}: the manifest itself is deleted");
        }
        foreach (var tag in scene.Kept)
            Assert.That((await repository.ResolveAsync(tag)).Digest, Is.EqualTo(digests[tag]), tag);
        Assert.That((await repository.ResolveAsync("stable")).Digest, Is.EqualTo(scene.V3.Digest));

        var text = await MetricsText.ScrapeAsync(server.Http);
        Assert.That(MetricsText.Value(text, "doras_gc_deleted_total{reason=\"expired_placeholder\"}"), Is.EqualTo(3));
        Assert.That(MetricsText.Value(text, "doras_gc_deleted_total{reason=\"retention\"}"), Is.EqualTo(1));
        Assert.That(MetricsText.Value(text, "doras_expired_dummies_total"), Is.EqualTo(3));
    }

    [Test]
    public async Task The_server_collects_periodically_when_enabled()
    {
        await using var server = await RunningServer.StartAsync("--Gc:Interval", "00:00:01");
        var repository = server.Store.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Binary(10_000, 51), "v1");
        var v2 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Binary(10_000, 52), "v2");
        var stale = new DeltaKey("fleet/app", v1.Digest, v2.Digest, "zstd");
        await DeltaRecords.WriteBuildingAsync(repository, stale, "a dead instance", Now.AddHours(-2), default);
        await Eventually.UntilAsync(async () => await repository.TryResolveAsync(stale.Tag) is null, TimeSpan.FromSeconds(30), "the periodic collection removes the stale build record");
        Assert.That(MetricsText.Value(await MetricsText.ScrapeAsync(server.Http), "doras_expired_dummies_total"), Is.EqualTo(1));
    }
    /// <summary><c>doras-server gc --json --store PATH</c> with <see cref="Policy"/>: its exit code and report.</summary>
    private static (int Code, JsonElement Report) Gc(string storePath, bool dryRun)
    {
        string[] mode = dryRun ? ["--dry-run"] : [];
        var (code, output) = ExternalTool.Run("dotnet", [Binaries.Server, "gc", .. mode, "--json", "--store", storePath, .. Policy]);
        var line = output.Split('\n').SingleOrDefault(l => l.StartsWith('{'));
        Assert.That(line, Is.Not.Null, output);
        return (code, JsonDocument.Parse(line!).RootElement.Clone());
    }

    private static string[] Strings(JsonElement report, string property) =>
        report.GetProperty(property).EnumerateArray().Select(e => e.GetString()!).ToArray();

    private static string BlobPath(OciLayoutRepository repository, Digest digest) => Path.Combine(repository.Directory, "blobs", "sha256", digest.Hex);

    [Test]
    public async Task A_users_own_manifest_at_a_delta_prefixed_tag_survives_gc_with_its_blobs()
    {
        using var dir = new TempDirectory();
        var repository = new OciLayoutStore(dir["store"]).Open("fleet/app");
        await Versions.PublishFileAsync(repository, dir, "app", TestData.Binary(20_000, 61), "v1");
        // Written straight into the store (doras push refuses the name): a user's artifact, not a delta.
        var config = await repository.PushBytesAsync("application/vnd.example.config+json", "{\"mine\":true}"u8.ToArray());
        var layer = await repository.PushBytesAsync("application/vnd.example.data", TestData.Random(3000, 62));
        var mine = await repository.PushManifestAsync(new ImageManifest { ArtifactType = "application/vnd.example.thing", Config = config, Layers = [layer] }, ["_delta-mine"]);
        // Our artifactType but neither a base and target nor a placeholder mark: not one the server wrote either.
        var lookalike = await repository.PushManifestAsync(new ImageManifest
        {
            ArtifactType = DorasMediaTypes.Delta, Config = config, Layers = [layer],
            Annotations = new Dictionary<string, string> { [Annotations.Created] = "2000-01-01T00:00:00Z" },
        }, ["_delta-lookalike"]);
        // A real placeholder long expired, so the run has something of its own to delete.
        var expired = new DeltaKey("fleet/app", Digest.Compute("a"u8), Digest.Compute("b"u8), "zstd");
        await DeltaRecords.WriteFailedAsync(repository, expired, "it broke", false, Now.AddDays(-3), default);
        var expiredDigest = (await repository.ResolveAsync(expired.Tag)).Digest;

        var (code, report) = Gc(dir["store"], dryRun: false);

        Assert.That(code, Is.Zero, report.ToString());
        var deleted = report.GetProperty("deleted").EnumerateArray()
            .Select(d => (d.GetProperty("tag").GetString(), d.GetProperty("digest").GetString(), d.GetProperty("reason").GetString())).ToArray();
        Assert.That(deleted, Is.EqualTo(new[] { (expired.Tag, expiredDigest.ToString(), GcReasons.ExpiredPlaceholder) }));
        Assert.That(report.GetProperty("kept").GetInt32(), Is.Zero, "a user's manifest is not counted as a delta kept");
        Assert.That(Strings(report, "removed_blobs"), Is.EqualTo(new[] { $"fleet/app@{expiredDigest}" }), "only the placeholder's manifest (its empty config is shared)");
        Assert.That(await repository.ListTagsAsync().ToListAsync(), Is.EquivalentTo(new[] { "v1", "_delta-mine", "_delta-lookalike" }));
        Assert.That((await repository.ResolveAsync("_delta-mine")).Digest, Is.EqualTo(mine.Digest));
        Assert.That((await repository.ResolveAsync("_delta-lookalike")).Digest, Is.EqualTo(lookalike.Digest));
        foreach (var digest in new[] { mine.Digest, lookalike.Digest, config.Digest, layer.Digest })
            Assert.That(File.Exists(BlobPath(repository, digest)), Is.True, digest.ToString());
    }

    /// <summary>How an untagged manifest listed in <c>index.json</c> can be unreadable to gc, and the reason gc gives.</summary>
    public enum Unreadable { OverFourMiB, Malformed, UnknownMediaType }

    [TestCase(Unreadable.OverFourMiB)]
    [TestCase(Unreadable.Malformed)]
    [TestCase(Unreadable.UnknownMediaType)]
    public async Task A_manifest_gc_cannot_read_keeps_every_blob_of_its_repository(Unreadable kind)
    {
        using var dir = new TempDirectory();
        var repository = new OciLayoutStore(dir["store"]).Open("fleet/app");
        await Versions.PublishFileAsync(repository, dir, "app", TestData.Binary(20_000, 71), "v1");
        var orphan = await repository.PushBytesAsync("application/octet-stream", TestData.Random(1000, 72)); // referenced by nothing readable
        var config = await repository.PushBytesAsync("application/vnd.example.config+json", "{\"big\":true}"u8.ToArray());
        var layer = await repository.PushBytesAsync("application/vnd.example.data", TestData.Random(4000, 73));
        var manifest = new ImageManifest
        {
            Config = config, Layers = [layer],
            Annotations = kind == Unreadable.OverFourMiB ? new Dictionary<string, string> { ["example.huge"] = new string('x', OciJson.MaxManifestBytes) } : null,
        };
        var (mediaType, bytes) = kind switch
        {
            Unreadable.OverFourMiB => (MediaTypes.ImageManifest, OciJson.Serialize(manifest)),
            Unreadable.Malformed => (MediaTypes.ImageManifest, OciJson.Serialize(manifest)[..^1]), // cut short: no closing brace
            _ => ("application/vnd.oci.artifact.manifest.v1+json", System.Text.Encoding.UTF8.GetBytes(
                $"{{\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\",\"blobs\":[{{\"mediaType\":\"{layer.MediaType}\",\"digest\":\"{layer.Digest}\",\"size\":{layer.Size}}}],\"annotations\":{{\"config\":\"{config.Digest}\"}}}}")),
        };
        var unreadable = Descriptor.FromBytes(mediaType, bytes);
        await repository.PushAsync(unreadable, new MemoryStream(bytes));
        // Listed in index.json without a tag, as skopeo or another tool may leave it.
        var indexPath = Path.Combine(repository.Directory, "index.json");
        var index = OciJson.Deserialize<ImageIndex>(File.ReadAllBytes(indexPath), "index.json");
        File.WriteAllBytes(indexPath, OciJson.Serialize(index with { Manifests = [.. index.Manifests, unreadable] }));
        var before = TreeSnapshot.Take(repository.Directory, skip: n => n.StartsWith('.'));

        var (code, report) = Gc(dir["store"], dryRun: false);

        foreach (var digest in new[] { config.Digest, layer.Digest, unreadable.Digest, orphan.Digest })
            Assert.That(File.Exists(BlobPath(repository, digest)), Is.True, digest.ToString());
        Assert.That(TreeSnapshot.Take(repository.Directory, skip: n => n.StartsWith('.')), Is.EqualTo(before), "nothing in the repository changed");
        Assert.That(code, Is.Zero, report.ToString());
        Assert.That(report.GetProperty("errors").GetArrayLength(), Is.Zero, report.ToString());
        const string consequence = "; its blobs may be referenced by it, so no blob was removed";
        var skipped = Strings(report, "blob_sweeps_skipped");
        Assert.That(skipped, Has.Length.EqualTo(1));
        switch (kind)
        {
            case Unreadable.OverFourMiB:
                Assert.That(skipped[0], Is.EqualTo($"fleet/app: manifest {unreadable.Digest} is {bytes.Length} bytes, over the 4194304-byte limit for manifests{consequence}"));
                Assert.That(bytes.Length, Is.GreaterThan(4 * 1024 * 1024));
                break;
            case Unreadable.Malformed:
                Assert.That(skipped[0], Does.StartWith($"fleet/app: manifest {unreadable.Digest} is not valid: ").And.EndWith(consequence));
                break;
            default:
                Assert.That(skipped[0], Is.EqualTo($"fleet/app: manifest {unreadable.Digest} has media type 'application/vnd.oci.artifact.manifest.v1+json', which garbage collection cannot read{consequence}"));
                break;
        }
        Assert.That(report.GetProperty("blobs_removed").GetInt32(), Is.Zero);
        Assert.That(Strings(report, "removed_blobs"), Is.Empty);
    }

    [Test]
    public async Task A_dry_run_reports_exactly_the_tags_and_blobs_the_real_run_removes()
    {
        using var dir = new TempDirectory();
        var repository = new OciLayoutStore(dir["original"]).Open("fleet/app");
        var scene = await SetUpAsync(repository, dir);
        // What the doomed tags alone hold: their manifests and layers (the empty config is shared with the versions).
        var freed = new List<string>();
        foreach (var tag in scene.Doomed.Keys)
        {
            var descriptor = await repository.ResolveAsync(tag);
            freed.Add($"fleet/app@{descriptor.Digest}");
            freed.AddRange((await repository.FetchManifestAsync(descriptor)).Layers.Select(l => $"fleet/app@{l.Digest}"));
        }
        CopyTree(dir["original"], dir["dry"]);
        CopyTree(dir["original"], dir["real"]);
        var dryBefore = TreeSnapshot.Take(dir["dry"]);
        var realBefore = TreeSnapshot.Take(dir["real"]);

        var (dryCode, dry) = Gc(dir["dry"], dryRun: true);
        var (realCode, real) = Gc(dir["real"], dryRun: false);

        Assert.That((dryCode, realCode), Is.EqualTo((0, 0)), $"{dry}\n{real}");
        Assert.That(dry.GetProperty("dry_run").GetBoolean(), Is.True);
        Assert.That(real.GetProperty("dry_run").GetBoolean(), Is.False);
        Assert.That(dry.GetProperty("deleted").ToString(), Is.EqualTo(real.GetProperty("deleted").ToString()));
        Assert.That(dry.GetProperty("kept").GetInt32(), Is.EqualTo(real.GetProperty("kept").GetInt32()));
        Assert.That(dry.GetProperty("blobs_removed").GetInt32(), Is.EqualTo(freed.Count).And.EqualTo(real.GetProperty("blobs_removed").GetInt32()));
        Assert.That(dry.GetProperty("blob_bytes_removed").GetInt64(), Is.EqualTo(real.GetProperty("blob_bytes_removed").GetInt64()).And.GreaterThan(0));
        Assert.That(Strings(dry, "removed_blobs"), Is.EquivalentTo(freed));
        Assert.That(Strings(real, "removed_blobs"), Is.EquivalentTo(freed));

        Assert.That(TreeSnapshot.Take(dir["dry"]), Is.EqualTo(dryBefore), "a dry run changes nothing");
        var gone = realBefore.Keys.Except(TreeSnapshot.Take(dir["real"]).Keys).Where(k => k.Contains("/blobs/")).Select(k => $"fleet/app@sha256:{Path.GetFileName(k)}");
        Assert.That(gone, Is.EquivalentTo(freed), "the real run removed exactly the blobs both reported");
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

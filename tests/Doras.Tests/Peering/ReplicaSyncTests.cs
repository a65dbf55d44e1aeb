using System.Text.Json;
using Doras.Oci.Model;

namespace Doras.Tests.Peering;

/// <summary>Tags added, moved and deleted on the primary reach the replica; a primary that is down, or a doubtful 404, deletes nothing it still has.</summary>
public class ReplicaSyncTests
{
    private static JsonElement Sync(string output) => JsonDocument.Parse(output).RootElement.GetProperty("syncs")[0].Clone();

    private static string[] Names(JsonElement sync, string list) => sync.GetProperty(list).EnumerateArray().Select(e => e.GetString()!).ToArray();


    [Test]
    public async Task Tags_moved_added_and_deleted_on_the_primary_reach_the_replica_and_a_primary_that_is_down_deletes_nothing()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var v1Content = TestData.Binary(300_000, 1);
        var v1 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v1Content, "v1", "stable");
        var v2 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Edit(v1Content, 2), "v2");
        await using var replica = await TwoSites.ReplicateAsync(primary);
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(new Dictionary<string, Digest> { ["v1"] = v1.Digest, ["stable"] = v1.Digest, ["v2"] = v2.Digest }));

        // skopeo, an independent client, reads the same manifest bytes from both registries.
        string Raw(PeerSite site, string tag) => ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{site.Registry.Host}/fleet/app:{tag}");
        Assert.That(Raw(replica, "v2"), Is.EqualTo(Raw(primary, "v2")));

        // On the primary: stable moves to v2, v3 appears, v1 is deleted.
        await repository.TagAsync(v2, "stable");
        var v3 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Edit(v1Content, 3), "v3");
        await repository.DeleteManifestAsync(v1.Digest);
        var (code, output, errors) = await replica.AdminAsync(["sync", "--now", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, errors);
        var sync = Sync(output);
        Assert.That(sync.GetProperty("outcome").GetString(), Is.EqualTo("synced"));
        Assert.That(Names(sync, "added"), Is.EqualTo(new[] { "v3" }));
        Assert.That(Names(sync, "moved"), Is.EqualTo(new[] { "stable" }));
        Assert.That(Names(sync, "deleted"), Is.EqualTo(new[] { "v1" }));
        Assert.That(sync.GetProperty("unchanged").GetInt32(), Is.EqualTo(1));
        var expected = new Dictionary<string, Digest> { ["stable"] = v2.Digest, ["v2"] = v2.Digest, ["v3"] = v3.Digest };
        Assert.That(await primary.TagsAsync("fleet/app"), Is.EqualTo(expected));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(expected));
        Assert.That(Raw(replica, "v3"), Is.EqualTo(Raw(primary, "v3")));

        // Nothing changed: nothing moves.
        (code, output, _) = await replica.AdminAsync(["sync", "--now", "--json"]);
        Assert.That(code, Is.Zero);
        Assert.That(Names(Sync(output), "added").Concat(Names(Sync(output), "moved")).Concat(Names(Sync(output), "deleted")), Is.Empty);

        // The primary goes down: the sync fails and the replica keeps everything.
        await primary.StopServerAsync();
        (code, output, errors) = await replica.AdminAsync(["sync", "--now", "--json"]);
        Assert.That(code, Is.EqualTo(1));
        sync = Sync(output);
        Assert.That(sync.GetProperty("outcome").GetString(), Is.EqualTo("failed"));
        Assert.That(sync.GetProperty("error").GetString(), Does.Contain("Connection refused"));
        Assert.That(errors, Does.Contain("failed, nothing deleted"));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(expected));
    }

    [Test]
    public async Task A_404_for_the_whole_repository_deletes_only_the_tags_the_primary_really_lost()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var content = TestData.Binary(200_000, 4);
        var v1 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", content, "v1");
        var v2 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Edit(content, 5), "v2", "stable");
        await using var facade = await PrimaryFacade.StartAsync(primary.Server.Url);
        await using var replica = await TwoSites.ReplicateAsync(primary, TwoSites.ReplicaPeering(facade.Url));
        var all = new Dictionary<string, Digest> { ["v1"] = v1.Digest, ["v2"] = v2.Digest, ["stable"] = v2.Digest };
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(all));

        // The sync answer says 404, and the per-tag checks fail too: nothing is deleted.
        await repository.DeleteManifestAsync(v1.Digest);
        facade.SyncSaysNotFound = true;
        facade.ManifestChecksFail = true;
        var (code, output, _) = await replica.AdminAsync(["sync", "--now", "--json"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(Sync(output).GetProperty("outcome").GetString(), Is.EqualTo("failed"));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(all));

        // The per-tag checks answer: only v1 is gone on the primary, so only v1 goes here.
        facade.ManifestChecksFail = false;
        facade.ManifestChecks.Clear();
        (code, output, _) = await replica.AdminAsync(["sync", "--now", "--json"]);
        Assert.That(code, Is.Zero);
        var sync = Sync(output);
        Assert.That(sync.GetProperty("outcome").GetString(), Is.EqualTo("checked-deletions"));
        Assert.That(Names(sync, "deleted"), Is.EqualTo(new[] { "v1" }));
        Assert.That(facade.ManifestChecks, Is.EqualTo(new[] { "/peer/v1/v2/fleet/app/manifests/stable", "/peer/v1/v2/fleet/app/manifests/v1", "/peer/v1/v2/fleet/app/manifests/v2" }));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(new Dictionary<string, Digest> { ["v2"] = v2.Digest, ["stable"] = v2.Digest }));
    }

    [Test]
    public async Task The_server_syncs_its_replicas_every_SyncInterval_on_its_own()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var content = TestData.Binary(100_000, 9);
        await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", content, "v1", "stable");
        await using var replica = await TwoSites.ReplicateAsync(primary, null, "--Peering:SyncInterval", "00:00:01");

        var v2 = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Edit(content, 10), "v2", "stable");
        // A sync moves tags one after another (stable before v2), so wait for the whole state, not one tag of it.
        var (tags, expected) = await Eventually.UntilAsync(async () => (Tags: await replica.TagsAsync("fleet/app"), Expected: await primary.TagsAsync("fleet/app")),
            both => both.Tags.OrderBy(t => t.Key).SequenceEqual(both.Expected.OrderBy(t => t.Key)), TimeSpan.FromSeconds(30), "the replica has the primary's tags");
        Assert.That(tags, Is.EqualTo(expected));
        Assert.That(tags["v2"], Is.EqualTo(v2.Digest));
    }
}

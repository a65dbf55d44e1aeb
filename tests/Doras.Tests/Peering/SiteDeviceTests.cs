using System.Text.Json;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Deltas;
using Doras.Server.Peering;

namespace Doras.Tests.Peering;

/// <summary>A device at the site points at the replica and updates by delta, byte for byte, whether the primary has the delta already or builds it on request.</summary>
public class SiteDeviceTests
{
    /// <summary>The name the server stores a delta under for the edge client's default list (every algorithm where the libraries load).</summary>
    private const string DefaultAutoName = "auto:bsdiff+bsdiff-exe+bsdiff-lzma+deflate+octodiff+tardiff+zstd"; // what the default list asks for, on a device with liblzma and zlib


    /// <summary>A device whose server is <paramref name="site"/>'s Doras server and whose registry is the site's registry.</summary>
    private static (Updater Updater, UpdateOptions Options, IDisposable Resources) Device(PeerSite site, TempDirectory device, string output)
    {
        var client = LoopbackDeltaClient.Create(site.Server.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) });
        var registry = site.RegistryClient();
        var updater = new Updater(client, registry);
        return (updater, new UpdateOptions { Reference = $"{site.Registry.Host}/fleet/app:stable", Output = device[output] }, new Both(client, registry));
    }

    private sealed class Both(IDisposable a, IDisposable b) : IDisposable
    {
        public void Dispose() { a.Dispose(); b.Dispose(); }
    }

    [Test]
    public async Task A_delta_the_replica_lacks_is_built_by_the_primary_copied_to_the_replica_and_applied_byte_for_byte()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var v1 = TestData.Binary(2 << 20, 1);
        var v2 = TestData.Edit(v1, 2);
        var v1Manifest = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v1, "v1", "stable");
        await using var replica = await TwoSites.ReplicateAsync(primary);
        using var device = new TempDirectory();
        var (updater, options, resources) = Device(replica, device, "app");
        using var _ = resources;

        var first = await updater.UpdateAsync(options);
        Assert.That(first.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(File.ReadAllBytes(first.InstalledPath), Is.EqualTo(v1));

        var v2Manifest = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v2, "v2", "stable");
        var (code, _, errors) = await replica.AdminAsync(["sync", "--now"]);
        Assert.That(code, Is.Zero, errors);

        // Asked for a delta it lacks, the replica answers 202 while the primary builds it, and 200 once it copied it.
        var query = $"/api/v1/delta?from_digest={Uri.EscapeDataString($"{replica.Registry.Host}/fleet/app@{v1Manifest.Digest}")}"
            + $"&to_tag={Uri.EscapeDataString($"{replica.Registry.Host}/fleet/app:v2")}&accepted_algorithm=zstd";
        using (var pending = await replica.Server.Http.GetAsync(query))
        {
            Assert.That(pending.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Accepted), await pending.Content.ReadAsStringAsync());
            Assert.That(pending.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.Zero));
        }
        var (json, _) = await DeltaRequests.ReadyAsync(replica.Server.Http, query);
        var ready = JsonDocument.Parse(json).RootElement.Clone();
        Assert.That(ready.GetProperty("status").GetString(), Is.EqualTo("ready"));
        Assert.That(ready.GetProperty("delta_image").GetString(), Does.StartWith($"{replica.Registry.Host}/fleet/app@sha256:"));

        var second = await updater.UpdateAsync(options);
        Assert.That(second.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(second.ManifestDigest, Is.EqualTo(v2Manifest.Digest.ToString()));
        Assert.That(File.ReadAllBytes(second.InstalledPath), Is.EqualTo(v2));
        Assert.That(second.BytesDownloaded, Is.LessThan(second.FullDownloadSize / 4));

        // The primary built each once; the replica built nothing and now holds the same delta artifact under the same tag.
        Assert.That(primary.Server.Builder.BuildsStarted, Is.EqualTo(2), "the zstd delta asked for above, and the device's");
        Assert.That(replica.Server.Builder.BuildsStarted, Is.Zero);
        var deltaTag = new DeltaKey("fleet/app", v1Manifest.Digest, v2Manifest.Digest, DefaultAutoName).Tag;
        var onPrimary = await primary.TagsAsync("fleet/app");
        var onReplica = await replica.TagsAsync("fleet/app");
        Assert.That(onReplica[deltaTag], Is.EqualTo(onPrimary[deltaTag]));
    }

    [Test]
    public async Task A_delta_synced_from_the_primary_is_served_by_the_replica_while_the_primary_is_down()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var v1 = TestData.Binary(2 << 20, 7);
        var v2 = TestData.Edit(v1, 8);
        await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v1, "v1", "stable");
        await using var replica = await TwoSites.ReplicateAsync(primary);

        // The device at the site installs v1 from the replica; one at the head office from the primary.
        using var site = new TempDirectory();
        var (updater, options, resources) = Device(replica, site, "app");
        using var _ = resources;
        Assert.That((await updater.UpdateAsync(options)).Mode, Is.EqualTo(UpdateMode.Full));
        using var office = new TempDirectory();
        var (officeUpdater, officeOptions, officeResources) = Device(primary, office, "app");
        using (officeResources)
        {
            Assert.That((await officeUpdater.UpdateAsync(officeOptions)).Mode, Is.EqualTo(UpdateMode.Full));
            // v2 is published and the head office's update makes the primary build the delta.
            await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v2, "v2", "stable");
            Assert.That((await officeUpdater.UpdateAsync(officeOptions)).Mode, Is.EqualTo(UpdateMode.Delta));
        }

        // The replica syncs v2 and the delta, then the primary goes down: the site still updates by delta.
        var (code, output, errors) = await replica.AdminAsync(["sync", "--now", "--json"]);
        Assert.That(code, Is.Zero, errors);
        var added = JsonDocument.Parse(output).RootElement.GetProperty("syncs")[0].GetProperty("added").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.That(added.Count(t => t.StartsWith("_delta-", StringComparison.Ordinal)), Is.EqualTo(1), string.Join(", ", added));
        await primary.StopServerAsync();
        var update = await updater.UpdateAsync(options);
        Assert.That(update.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(update.InstalledPath), Is.EqualTo(v2));
        Assert.That(replica.Server.Builder.BuildsStarted, Is.Zero);
    }

    [Test]
    public async Task Devices_asking_at_once_for_a_delta_the_replica_lacks_share_one_request_to_the_primary_and_one_copy()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var publisher = primary.RegistryClient();
        var repository = publisher.Repository("fleet/app");
        var v1 = TestData.Binary(1 << 20, 11);
        var v1Manifest = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", v1, "v1", "stable");
        await using var facade = await PrimaryFacade.StartAsync(primary.Server.Url);
        await using var replica = await TwoSites.ReplicateAsync(primary, TwoSites.ReplicaPeering(facade.Url));
        var v2Manifest = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Edit(v1, 12), "v2", "stable");
        var (code, _, errors) = await replica.AdminAsync(["sync", "--now"]);
        Assert.That(code, Is.Zero, errors);

        // The primary has the delta already (built for a device of its own); the replica has not.
        string Query(PeerSite site) => $"/api/v1/delta?from_digest={Uri.EscapeDataString($"{site.Registry.Host}/fleet/app@{v1Manifest.Digest}")}"
            + $"&to_digest={Uri.EscapeDataString($"{site.Registry.Host}/fleet/app@{v2Manifest.Digest}")}&accepted_algorithm=zstd";
        await DeltaRequests.ReadyAsync(primary.Server.Http, Query(primary)); // the primary builds the delta

        // Four devices ask the replica at once; the primary's answer is held until they all wait on it.
        var inFlight = replica.Server.Service<ReplicaDeltas>().InFlight;
        facade.HoldDeltas = new TaskCompletionSource();
        var asks = Enumerable.Range(0, 4).Select(_ => replica.Server.Http.GetAsync(Query(replica))).ToList();
        await Eventually.UntilAsync(() => inFlight.Shared >= 3 || facade.DeltaRequests >= 4, TimeSpan.FromSeconds(10),
            "the four asks wait on one answer of the primary (or all reach it)", TimeSpan.FromMilliseconds(25));
        facade.HoldDeltas.SetResult();
        var answers = await Task.WhenAll(asks);
        var images = new List<string>();
        foreach (var answer in answers)
            using (answer)
            {
                Assert.That(answer.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.OK), await answer.Content.ReadAsStringAsync());
                images.Add(JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("delta_image").GetString()!);
            }

        Assert.That(facade.DeltaRequests, Is.EqualTo(1), "one request to the primary for the four devices");
        Assert.That(inFlight.Shared, Is.EqualTo(3));
        Assert.That(inFlight.Running, Is.Zero, "the key is free again once the copy is done");
        Assert.That(images.Distinct().Count(), Is.EqualTo(1));
        var deltaTag = new DeltaKey("fleet/app", v1Manifest.Digest, v2Manifest.Digest, "zstd").Tag;
        Assert.That((await replica.TagsAsync("fleet/app"))[deltaTag], Is.EqualTo((await primary.TagsAsync("fleet/app"))[deltaTag]));
        Assert.That(images[0], Is.EqualTo($"{replica.Registry.Host}/fleet/app@{(await primary.TagsAsync("fleet/app"))[deltaTag]}"));
        Assert.That(replica.Server.Builder.BuildsStarted, Is.Zero);
    }
}

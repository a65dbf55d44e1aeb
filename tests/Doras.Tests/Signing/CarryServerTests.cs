using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;
using Doras.Server.Collection;
using Doras.Server.Peering;
using Doras.Tests.Peering;

namespace Doras.Tests.Signing;

/// <summary>
/// The delta server carries signatures: its <c>/v2/</c> API serves referrers (distribution spec) and cosign's tags,
/// garbage collection keeps the signatures and referrers of what it keeps, and a replica syncs them with the versions.
/// </summary>
public class CarryServerTests
{
    private static async Task<(HttpStatusCode Status, ImageIndex? Index, HttpResponseMessage Response)> GetReferrersAsync(HttpClient http, string path, AuthenticationHeaderValue? authorization = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = authorization;
        var response = await http.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK) return (response.StatusCode, null, response);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo(MediaTypes.ImageIndex), path);
        return (response.StatusCode, OciJson.Deserialize<ImageIndex>(await response.Content.ReadAsByteArrayAsync(), path), response);
    }

    [Test]
    public async Task The_v2_api_serves_referrers_with_the_artifact_type_filter_and_cosign_signature_tags_to_skopeo_and_our_client()
    {
        await using var server = await RunningServer.StartAsync();
        var repository = server.Store.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", TestData.Binary(20_000, 1), "v1");
        var signature = await CarryArtifacts.SignAsync(repository, v1);
        var sbom = await CarryArtifacts.AttachAsync(repository, v1, "application/vnd.example.sbom", "sbom");
        var notation = await CarryArtifacts.AttachAsync(repository, v1, "application/vnd.cncf.notary.signature", "notation");

        var (status, index, response) = await GetReferrersAsync(server.Http, $"/v2/fleet/app/referrers/{v1.Digest}");
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.Contains("OCI-Filters-Applied"), Is.False);
        Assert.That(index!.Manifests.Select(m => (m.Digest, m.ArtifactType)), Is.EquivalentTo(new[]
        {
            (sbom.Digest, (string?)"application/vnd.example.sbom"), (notation.Digest, (string?)"application/vnd.cncf.notary.signature"),
        }));
        Assert.That(index.Manifests.Single(m => m.Digest == sbom.Digest).Annotations!["org.example.content"], Is.EqualTo("sbom"));
        Assert.That(index.Manifests.Single(m => m.Digest == sbom.Digest).Size, Is.EqualTo(sbom.Size));

        (status, index, response) = await GetReferrersAsync(server.Http, $"/v2/fleet/app/referrers/{v1.Digest}?artifactType={Uri.EscapeDataString("application/vnd.cncf.notary.signature")}");
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues("OCI-Filters-Applied").Single(), Is.EqualTo("artifactType"));
        Assert.That(index!.Manifests.Select(m => m.Digest), Is.EqualTo(new[] { notation.Digest }));

        // Nothing refers to it (or it is not there): an empty index, as the spec says.
        (status, index, _) = await GetReferrersAsync(server.Http, $"/v2/fleet/app/referrers/{sbom.Digest}");
        Assert.That((status, index!.Manifests.Count), Is.EqualTo((HttpStatusCode.OK, 0)));
        (status, _, _) = await GetReferrersAsync(server.Http, "/v2/fleet/app/referrers/sha256:nothex");
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));

        // Our registry client reads them through the API, as it reads a registry's.
        using var client = new RegistryClient(server.Url.Authority, new RegistryClientOptions { PlainHttp = true });
        Assert.That(await CarryArtifacts.ReferrersAsync(client.Repository("fleet/app"), v1), Is.EquivalentTo(new[] { sbom.Digest, notation.Digest }));

        // cosign's signature tag is a tag like any other: skopeo reads the signature manifest through the server.
        var raw = CarryArtifacts.Skopeo(server.Url.Authority, "fleet/app", CarryArtifacts.SignatureTag(v1));
        Assert.That(Digest.Compute(System.Text.Encoding.UTF8.GetBytes(raw)), Is.EqualTo(signature.Digest));
    }

    [Test]
    public async Task In_registry_mode_referrers_are_read_from_the_registry_with_the_callers_access_like_every_other_v2_read()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        tokens.OtherUsers["bob"] = ("b0b-pass", "team/app");
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var alice = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(tokens.Account.User, tokens.Account.Password) });
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = alice });
        var app = publisher.Repository("team/app");
        var appV1 = await Versions.PublishFileAsync(app, dir, "app.bin", TestData.Binary(10_000, 1), "v1");
        var appSbom = await CarryArtifacts.AttachAsync(app, appV1, "application/vnd.example.sbom", "app sbom");
        var secret = publisher.Repository("team/secret");
        var secretV1 = await Versions.PublishFileAsync(secret, dir, "secret.bin", TestData.Binary(10_000, 2), "v1");
        await CarryArtifacts.AttachAsync(secret, secretV1, "application/vnd.example.sbom", "secret sbom");
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true");

        var bob = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new("bob", "b0b-pass") });
        using var bobClient = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = bob });
        var bobToken = await bobClient.ReadAuthorizationAsync("team/app");

        // Bob reads team/app's referrers (from the registry's referrers index, as the registry has no referrers API).
        var (status, index, _) = await GetReferrersAsync(server.Http, $"/v2/team/app/referrers/{appV1.Digest}", bobToken);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(index!.Manifests.Select(m => (m.Digest, m.ArtifactType)), Is.EqualTo(new[] { (appSbom.Digest, (string?)"application/vnd.example.sbom") }));

        // Whoever may not read a manifest may not read its referrers: the same answer, whatever it is.
        foreach (var authorization in new[] { null, bobToken })
        {
            using var manifest = new HttpRequestMessage(HttpMethod.Get, "/v2/team/secret/manifests/v1") { Headers = { Authorization = authorization } };
            using var manifestAnswer = await server.Http.SendAsync(manifest);
            var (referrersStatus, _, referrersAnswer) = await GetReferrersAsync(server.Http, $"/v2/team/secret/referrers/{secretV1.Digest}", authorization);
            Assert.That(manifestAnswer.StatusCode, Is.AnyOf(HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden), authorization?.ToString());
            Assert.That(referrersStatus, Is.EqualTo(manifestAnswer.StatusCode), authorization?.ToString());
            Assert.That(referrersAnswer.Headers.WwwAuthenticate.ToString(), Is.EqualTo(manifestAnswer.Headers.WwwAuthenticate.ToString()));
            referrersAnswer.Dispose();
        }
    }

    [Test]
    public async Task Garbage_collection_keeps_the_signatures_and_untagged_referrers_of_kept_versions_and_drops_those_of_an_untagged_one()
    {
        await using var server = await RunningServer.StartAsync("--Gc:BlobGracePeriod", "00:00:00", "--Gc:Enabled", "false");
        var repository = server.Store.Open("fleet/app");
        var old = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", TestData.Binary(20_000, 9), "old");
        var oldSbom = await CarryArtifacts.AttachAsync(repository, old, "application/vnd.example.sbom", "sbom of a version that goes");
        var v1 = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", TestData.Binary(20_000, 1), "v1");
        var signature = await CarryArtifacts.SignAsync(repository, v1);
        var notation = await CarryArtifacts.AttachAsync(repository, v1, "application/vnd.cncf.notary.signature", "notation signature of v1");
        var countersignature = await CarryArtifacts.AttachAsync(repository, notation, "application/vnd.example.countersignature", "countersignature");
        await repository.UntagAsync("old");

        var report = await server.Service<GarbageCollector>().RunAsync(dryRun: false, CancellationToken.None);
        Assert.That(report.Errors, Is.Empty);
        Assert.That(report.BlobSweepsSkipped, Is.Empty);

        // v1's cosign signature, its notation signature and that one's countersignature, with every blob they refer to.
        foreach (var manifest in new[] { v1, signature, notation, countersignature })
        {
            Assert.That(await repository.ExistsAsync(manifest), manifest.Digest.ToString);
            var content = await repository.FetchManifestAsync(manifest);
            foreach (var blob in content.Layers.Append(content.Config))
                Assert.That(await repository.ExistsAsync(blob), $"{blob.Digest} of {manifest.Digest}");
        }
        Assert.That(await CarryArtifacts.ReferrersAsync(repository, v1), Is.EqualTo(new[] { notation.Digest }));
        Assert.That(await CarryArtifacts.ReferrersAsync(repository, notation), Is.EqualTo(new[] { countersignature.Digest }));
        var (_, index, _) = await GetReferrersAsync(server.Http, $"/v2/fleet/app/referrers/{v1.Digest}");
        Assert.That(index!.Manifests.Select(m => m.Digest), Is.EqualTo(new[] { notation.Digest }));

        // The untagged version goes, and the SBOM attached to it with it (what we chose: it attests nothing kept).
        Assert.That(report.RemovedBlobs, Does.Contain($"fleet/app@{old.Digest}").And.Contain($"fleet/app@{oldSbom.Digest}"));
        Assert.That(await repository.ExistsAsync(oldSbom), Is.False);
    }

    [Test]
    public async Task A_replica_syncs_a_versions_signatures_and_untagged_referrers_from_an_embedded_primary_and_keeps_them()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir["peers.json"], JsonSerializer.Serialize(new { Peering = new { TrustedPeers = new[] { new { Username = TwoSites.User, TwoSites.Password } } } }));
        string[] settings = ["--Peering:File", dir["peers.json"], "--Peering:SyncInterval", "0"];
        await using var primary = await RunningServer.StartAsync(settings);
        var published = primary.Store.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(published, primary.Scratch, "app.bin", TestData.Binary(30_000, 1), "v1", "stable");
        var signature = await CarryArtifacts.SignAsync(published, v1);
        var sbom = await CarryArtifacts.AttachAsync(published, v1, "application/vnd.example.sbom", "sbom of v1");
        var sbomSignature = await CarryArtifacts.AttachAsync(published, sbom, "application/vnd.cncf.notary.signature", "signature of the sbom");

        await using var replica = await PeerSite.StartAsync(TwoSites.ReplicaPeering(primary.Url));
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var app = new Doras.Server.Commands.ServerApp(Doras.Server.Hosting.DorasServer.Build, Doras.Server.Hosting.DorasServer.SettingSwitches);
        Assert.That(await AdminCommands.TryRunAsync(["sublease", "fleet/app", "--json", "--store", primary.StorePath, .. settings], output, errors, app), Is.Zero, errors.ToString());
        var token = JsonDocument.Parse(output.ToString()).RootElement.GetProperty("token").GetString()!;
        var (code, _, error) = await replica.AdminAsync(["replica", "add", "fleet/app", "--from", "primary", "--sublease", token]);
        Assert.That(code, Is.Zero, error);
        (code, var synced, error) = await replica.AdminAsync(["sync", "--now", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, error);

        using var client = replica.RegistryClient();
        var mirror = client.Repository("fleet/app");
        async Task AssertCarriedAsync()
        {
            Assert.That((await mirror.ResolveAsync("v1")).Digest, Is.EqualTo(v1.Digest));
            var sigTag = CarryArtifacts.SignatureTag(v1);
            Assert.That(CarryArtifacts.Skopeo(replica.Registry.Host, "fleet/app", sigTag), Is.EqualTo(CarryArtifacts.Skopeo(primary.Url.Authority, "fleet/app", sigTag)));
            Assert.That((await mirror.ResolveAsync(sigTag)).Digest, Is.EqualTo(signature.Digest));
            Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v1), Is.EqualTo(new[] { sbom.Digest }));
            Assert.That(await CarryArtifacts.ReferrersAsync(mirror, sbom), Is.EqualTo(new[] { sbomSignature.Digest }));
        }
        await AssertCarriedAsync();

        // Synced again: the replica's own referrers index (sha256-<hex>), which the primary has no tag for, stays.
        (code, synced, error) = await replica.AdminAsync(["sync", "--now", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, error);
        Assert.That(JsonDocument.Parse(synced).RootElement.GetProperty("syncs")[0].GetProperty("deleted").GetArrayLength(), Is.Zero, synced);
        await AssertCarriedAsync();

        // A new version with a referrer: it comes with the version.
        var v2 = await Versions.PublishFileAsync(published, primary.Scratch, "app.bin", TestData.Binary(30_000, 2), "v2");
        var v2Sbom = await CarryArtifacts.AttachAsync(published, v2, "application/vnd.example.sbom", "sbom of v2");
        (code, synced, error) = await replica.AdminAsync(["sync", "--now", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, error);
        var sync = JsonDocument.Parse(synced).RootElement.GetProperty("syncs")[0];
        Assert.That(sync.GetProperty("added").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "v2" }), synced);
        Assert.That(sync.GetProperty("attached").GetInt32(), Is.EqualTo(1), synced);
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v2), Is.EqualTo(new[] { v2Sbom.Digest }));
        await AssertCarriedAsync();

        // A signature attached later to v1, which the replica already has: the next sync brings it too.
        var late = await CarryArtifacts.AttachAsync(published, v1, "application/vnd.cncf.notary.signature", "signed after the release");
        (code, synced, error) = await replica.AdminAsync(["sync", "--now", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, error);
        Assert.That(JsonDocument.Parse(synced).RootElement.GetProperty("syncs")[0].GetProperty("attached").GetInt32(), Is.EqualTo(1), synced);
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v1), Is.EquivalentTo(new[] { sbom.Digest, late.Digest }));

        // The peer API's referrers are read under the peer's grants, as its manifests are: fleet/app, not fleet/secret.
        var secretV1 = await Versions.PublishFileAsync(primary.Store.Repository("fleet/secret"), primary.Scratch, "secret.bin", TestData.Binary(10_000, 3), "v1");
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Replicate}")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{TwoSites.User}:{TwoSites.Password}"))) },
        };
        using var tokenAnswer = await primary.Http.SendAsync(tokenRequest);
        var peerToken = new AuthenticationHeaderValue("Bearer", JsonDocument.Parse(await tokenAnswer.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!);
        var (granted, grantedIndex, _) = await GetReferrersAsync(primary.Http, $"/peer/v1/v2/fleet/app/referrers/{v1.Digest}", peerToken);
        Assert.That(granted, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(grantedIndex!.Manifests.Select(m => m.Digest), Is.EquivalentTo(new[] { sbom.Digest, late.Digest }));
        var (refused, _, refusal) = await GetReferrersAsync(primary.Http, $"/peer/v1/v2/fleet/secret/referrers/{secretV1.Digest}", peerToken);
        Assert.That(refused, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await refusal.Content.ReadAsStringAsync(), Does.Contain("granted no replica of fleet/secret"));
        refusal.Dispose();
    }

    [Test, CancelAfter(120_000)]
    public async Task The_referrers_answer_is_bounded()
    {
        await using var server = await RunningServer.StartAsync();
        var repository = server.Store.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", TestData.Binary(1000, 9), "v1");
        for (var i = 0; i < 520; i++) await CarryArtifacts.AttachAsync(repository, v1, "application/vnd.example.sbom", $"sbom {i}");
        var (status, index, _) = await GetReferrersAsync(server.Http, $"/v2/fleet/app/referrers/{v1.Digest}");
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(index!.Manifests, Has.Count.EqualTo(500));
    }
}


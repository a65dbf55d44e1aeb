using System.Net;
using System.Net.Http.Headers;
using Doras.Api;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Server;

/// <summary>Ready answers from memory: what they carry, when they stop holding, and that they never skip authorization.</summary>
public class ReadyAnswerTests
{
    private static async Task<double> CacheAsync(RunningServer server, string result) =>
        MetricsText.Value(await MetricsText.ScrapeAsync(server.Http), $"doras_delta_answer_cache_total{{result=\"{result}\"}}") ?? 0;

    [Test]
    public async Task A_ready_answer_carries_the_delta_layer_is_then_served_from_memory_and_follows_a_moved_tag()
    {
        // No precomputing: its writes to the store's index (which revalidates every hit) would race the three hits counted.
        await using var server = await RunningServer.StartAsync("--Precompute:PreviousVersions", "0");
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(200_000, 11);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        var v2 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 12), "stable");
        var query = DeltaRequests.Query("fleet/app", from, "stable");
        var (json, _) = await DeltaRequests.ReadyAsync(server.Http, query);
        var ready = DeltaRequests.Parse(json);

        // The layer in the answer is the stored delta manifest's one layer, field for field.
        var deltaManifest = await repository.FetchManifestAsync(await repository.ResolveAsync(Reference.Parse(ready.DeltaImage!).Identifier));
        var layer = deltaManifest.Layers.Single();
        Assert.That(ready.DeltaLayer, Is.Not.Null);
        Assert.That((ready.DeltaLayer!.MediaType, ready.DeltaLayer.Digest, ready.DeltaLayer.Size), Is.EqualTo((layer.MediaType, layer.Digest.ToString(), layer.Size)));
        Assert.That(ready.DeltaLayer.Annotations, Is.EquivalentTo(layer.Annotations!));

        var hits = await CacheAsync(server, "hit");
        for (var i = 0; i < 3; i++)
        {
            using var again = await server.Http.GetAsync(query);
            Assert.That(await again.Content.ReadAsStringAsync(), Is.EqualTo(json));
        }
        Assert.That(await CacheAsync(server, "hit"), Is.EqualTo(hits + 3));

        // The tag moves (another publish, as `doras push` does it): the next answer is for the new target.
        var v3 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 13), "stable");
        using var moved = await server.Http.GetAsync(query);
        var answer = DeltaRequests.Parse(await moved.Content.ReadAsStringAsync());
        Assert.That(answer.ToImage, Is.EqualTo($"fleet/app@{v3.Digest}"));
        Assert.That(answer.ToImage, Is.Not.EqualTo($"fleet/app@{v2.Digest}"));
        Assert.That(await CacheAsync(server, "stale"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_device_downloads_the_delta_without_fetching_its_manifest()
    {
        await using var server = await RunningServer.StartAsync();
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(300_000, 21);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "stable");
        using var device = new TempDirectory();
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url,
            new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) }, new Recording(requests, new SocketsHttpHandler())));
        var options = new UpdateOptions { Reference = "fleet/app:stable", Output = device["app"], AcceptedAlgorithms = ["zstd"] };
        Assert.That((await updater.UpdateAsync(options)).Mode, Is.EqualTo(UpdateMode.Full));
        var v2 = TestData.Edit(v1, 22);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "stable");
        requests.Clear();

        var result = await updater.UpdateAsync(options);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(v2));
        var deltaTag = (await repository.ListTagsAsync().ToListAsync()).Single(t => t.StartsWith("_delta-"));
        var deltaManifest = await repository.ResolveAsync(deltaTag);
        var layer = (await repository.FetchManifestAsync(deltaManifest)).Layers.Single();
        Assert.That(requests, Has.Some.EqualTo($"GET /v2/fleet/app/blobs/{layer.Digest}"), "the delta itself is downloaded");
        Assert.That(requests.Where(r => r.Contains(deltaManifest.Digest.ToString())), Is.Empty, string.Join("\n", requests));
    }

    [Test]
    public async Task A_remembered_answer_is_never_given_to_a_caller_the_registry_does_not_let_read_the_repository()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        tokens.OtherUsers["bob"] = ("b0b-pass", "team/app");
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var alice = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new("alice", "s3cret") });
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = alice });
        var secret = publisher.Repository("team/secret");
        var v1 = TestData.Binary(150_000, 31);
        var from = await Versions.PublishFileAsync(secret, dir, "s.bin", v1, "v1");
        await Versions.PublishFileAsync(secret, dir, "s.bin", TestData.Edit(v1, 32), "v2");
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", registry.Host, "--Registry:Credentials:0:Username", "alice", "--Registry:Credentials:0:Password", "s3cret");

        var aliceToken = await publisher.ReadAuthorizationAsync("team/secret");
        var bobClient = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new("bob", "b0b-pass") }) });
        using var _ = bobClient;
        await Versions.PublishFileAsync(publisher.Repository("team/app"), dir, "a.bin", TestData.Binary(1000, 34), "v1");
        var bobToken = await bobClient.ReadAuthorizationAsync("team/app") ?? throw new InvalidOperationException("bob got no token for team/app");
        var query = $"{DeltaApi.Path}?{DeltaApi.FromDigest}={Uri.EscapeDataString($"{registry.Host}/team/secret@{from.Digest}")}&{DeltaApi.ToTag}={Uri.EscapeDataString($"{registry.Host}/team/secret:v2")}&{DeltaApi.AcceptedAlgorithm}=zstd";
        var (json, _) = await DeltaRequests.ReadyAsync(server.Http, query, r => r.Headers.Authorization = aliceToken);
        using (var again = await Send(server, query, aliceToken))
            Assert.That(await again.Content.ReadAsStringAsync(), Is.EqualTo(json));
        Assert.That(await CacheAsync(server, "hit"), Is.EqualTo(1));

        // Bob's token is for team/app only; a wrong password is nobody's. Neither gets the remembered answer.
        foreach (var (caller, expected) in new[] { (bobToken, HttpStatusCode.Unauthorized), (new AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice:wrong"u8.ToArray())), HttpStatusCode.Unauthorized) })
        {
            using var refused = await Send(server, query, caller);
            var body = await refused.Content.ReadAsStringAsync();
            Assert.That(refused.StatusCode, Is.AnyOf(HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden), body);
            Assert.That(body, Does.Not.Contain("delta_image").And.Not.Contain("sha256:"));
        }
        using (var anonymous = await Send(server, query, null))
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await CacheAsync(server, "not_confirmed"), Is.EqualTo(2));

        // Alice still gets it from memory; when the tag moves in the registry, she gets the new target.
        using (var still = await Send(server, query, aliceToken))
            Assert.That(await still.Content.ReadAsStringAsync(), Is.EqualTo(json));
        var v3 = await Versions.PublishFileAsync(secret, dir, "s.bin", TestData.Edit(v1, 33), "v2");
        using var moved = await Send(server, query, aliceToken);
        Assert.That(DeltaRequests.Parse(await moved.Content.ReadAsStringAsync()).ToImage, Is.EqualTo($"{registry.Host}/team/secret@{v3.Digest}"));
    }

    private static async Task<HttpResponseMessage> Send(RunningServer server, string query, AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, query) { Headers = { Authorization = authorization } };
        return await server.Http.SendAsync(request);
    }

    private sealed class Recording(System.Collections.Concurrent.ConcurrentQueue<string> requests, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            requests.Enqueue($"{request.Method} {request.RequestUri!.AbsolutePath}");
            return base.SendAsync(request, ct);
        }
    }
}

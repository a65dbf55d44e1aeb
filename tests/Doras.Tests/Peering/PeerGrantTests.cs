using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Server.Peering;

namespace Doras.Tests.Peering;

/// <summary>A peer reads only the repositories it was granted by redeeming a sublease token, on every peer endpoint that reads one.</summary>
public class PeerGrantTests
{
    private const string SiteB = "site-b";
    private const string SiteBPassword = "site-b-secret-0123456789abcdefghij";
    private const string SiteC = "site-c";
    private const string SiteCPassword = "site-c-secret-0123456789abcdefghij";

    private static async Task<AuthenticationHeaderValue> TokenAsync(HttpClient http, string user, string password, string scopes)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={Uri.EscapeDataString(scopes)}")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"))) },
        };
        using var response = await http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return new AuthenticationHeaderValue("Bearer", (await response.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token);
    }

    private static async Task<(HttpStatusCode Status, string Body, string? ContentType)> SendAsync(HttpClient http, HttpMethod method, string path, AuthenticationHeaderValue token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body, options: PeerApi.Json) };
        request.Headers.Authorization = token;
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>Every peer request that reads <paramref name="repository"/>: configuration, sync, delta, tags, manifest, blob.</summary>
    private static (HttpMethod Method, string Path, object? Body)[] Reads(string repository, string v1, string layer) =>
    [
        (HttpMethod.Get, $"/peer/v1/configuration?repository={repository}", null),
        (HttpMethod.Post, $"/peer/v1/sync?repository={repository}", new SyncRequest(new Dictionary<string, string>())),
        (HttpMethod.Get, $"/peer/v1/delta?from_digest={Uri.EscapeDataString($"{repository}@{v1}")}&to_digest={Uri.EscapeDataString($"{repository}@{v1}")}", null),
        (HttpMethod.Get, $"/peer/v1/v2/{repository}/tags/list", null),
        (HttpMethod.Get, $"/peer/v1/v2/{repository}/manifests/v1", null),
        (HttpMethod.Get, $"/peer/v1/v2/{repository}/manifests/{v1}", null),
        (HttpMethod.Get, $"/peer/v1/v2/{repository}/blobs/{layer}", null),
    ];

    private static async Task AssertRefusedAsync(HttpClient http, AuthenticationHeaderValue token, (HttpMethod Method, string Path, object? Body) read, int status, string detail)
    {
        var (code, body, type) = await SendAsync(http, read.Method, read.Path, token, read.Body);
        Assert.That((int)code, Is.EqualTo(status), $"{read.Method} {read.Path}: {body}");
        Assert.That(type, Is.EqualTo("application/problem+json"), read.Path);
        Assert.That(JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString(), Is.EqualTo(detail), read.Path);
    }

    [Test]
    public async Task A_peer_reads_only_the_repositories_its_redeemed_sublease_tokens_granted_it()
    {
        await using var primary = await PeerSite.StartAsync(new
        {
            TrustedPeers = new object[]
            {
                new { Username = TwoSites.User, Password = TwoSites.Password },
                new { Username = SiteB, Password = SiteBPassword },
                new { Username = SiteC, Password = SiteCPassword, Scopes = new[] { PeerScopes.Replicate, PeerScopes.Sublease } },
            },
        });
        string app, secret, appLayer, secretLayer;
        using (var client = primary.RegistryClient())
        {
            var appV1 = await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(60_000, 1), "v1");
            var secretV1 = await Versions.PublishFileAsync(client.Repository("fleet/secret"), primary.Server.Scratch, "app.bin", TestData.Binary(60_000, 2), "v1");
            (app, secret) = (appV1.Digest.ToString(), secretV1.Digest.ToString());
            appLayer = (await client.Repository("fleet/app").FetchManifestAsync(appV1)).Layers[0].Digest.ToString();
            secretLayer = (await client.Repository("fleet/secret").FetchManifestAsync(secretV1)).Layers[0].Digest.ToString();
        }
        // site-a redeems a sublease token for fleet/app (the replica is created and synced through the peer API).
        await using var replica = await TwoSites.ReplicateAsync(primary);
        var http = primary.Server.Http;
        var siteA = await TokenAsync(http, TwoSites.User, TwoSites.Password, PeerScopes.Replicate);
        var siteB = await TokenAsync(http, SiteB, SiteBPassword, PeerScopes.Replicate);

        // What it was granted, it reads.
        foreach (var read in Reads("fleet/app", app, appLayer))
        {
            var (status, body, _) = await SendAsync(http, read.Method, read.Path, siteA, read.Body);
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), $"{read.Method} {read.Path}: {body}");
        }
        // Another repository of the primary: refused on every endpoint, before anything is read.
        foreach (var read in Reads("fleet/secret", secret, secretLayer))
            await AssertRefusedAsync(http, siteA, read, 403,
                "peer 'site-a' was granted no replica of fleet/secret: a replica is granted when it is created with a sublease token from this server");
        // A path naming a repository inside a granted one is that other repository.
        await AssertRefusedAsync(http, siteA, (HttpMethod.Get, "/peer/v1/v2/fleet/app/manifests/v1/tags/list", null), 403,
            "peer 'site-a' was granted no replica of fleet/app/manifests/v1: a replica is granted when it is created with a sublease token from this server");
        // Another trusted peer with the same scope, but no grant: refused on site-a's repository too.
        foreach (var read in Reads("fleet/app", app, appLayer))
            await AssertRefusedAsync(http, siteB, read, 403,
                "peer 'site-b' was granted no replica of fleet/app: a replica is granted when it is created with a sublease token from this server");
        // Our own state is never served, on the delta endpoint as on the others.
        foreach (var read in Reads("doras-peering", app, appLayer))
            await AssertRefusedAsync(http, siteA, read, 404, "doras-peering is not served to peers");
        // Nor to devices, through the device-facing registry and delta API, whatever the store lets the server read.
        // Routing matches /V2/ as /v2/: spelled either way, and HEAD as GET (found by review: /V2/ read our records).
        foreach (var path in new[] { "/v2/doras-peering/tags/list", "/v2/doras-peering/manifests/latest", "/V2/doras-peering/tags/list", "/V2/doras-peering/manifests/latest",
            $"/api/v1/delta?from_digest=doras-peering@{app}&to_tag=doras-peering:x",
            "/api/v1/delta/from-signature?to_tag=doras-peering:x&to_tag=doras-peering:x" }) // a value given twice, which the challenge's parser skips
        {
            using var device = path.Contains("from-signature")
                ? await http.PostAsync(path, new ByteArrayContent([1, 2, 3]))
                : await http.GetAsync(path);
            Assert.That(device.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), path);
            using var problem = System.Text.Json.JsonDocument.Parse(await device.Content.ReadAsStringAsync());
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo("repository doras-peering is not served here"), path);
        }
        using (var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/V2/doras-peering/manifests/latest")))
            Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));

        // The sublease scope is the operator's to give: not by default, only when listed for the peer.
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Sublease}"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TwoSites.User}:{TwoSites.Password}")));
            using var refused = await http.SendAsync(request);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString(),
                Is.EqualTo("peer 'site-a' may not have the scope 'sublease'"));
        }
        var siteC = await TokenAsync(http, SiteC, SiteCPassword, $"{PeerScopes.Replicate} {PeerScopes.Sublease}");
        await AssertRefusedAsync(http, siteC, Reads("fleet/secret", secret, secretLayer)[0], 403,
            "peer 'site-c' was granted no replica of fleet/secret: a replica is granted when it is created with a sublease token from this server");
        var (code, issued, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/subleases?repository=fleet/secret", siteC);
        Assert.That(code, Is.EqualTo(HttpStatusCode.OK), issued);
        var sublease = JsonSerializer.Deserialize<SubleaseAnswer>(issued, PeerApi.Json)!;
        // A token a peer asked for is its own: another trusted peer holding it is refused, and the token stays usable.
        (code, var stolen, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/replicas?repository=fleet/secret", siteA, new ReplicaRequest(sublease.Token));
        Assert.That(code, Is.EqualTo(HttpStatusCode.Forbidden), stolen);
        Assert.That(JsonDocument.Parse(stolen).RootElement.GetProperty("detail").GetString(), Is.EqualTo("this server issued no such sublease token for fleet/secret"));
        (code, var configuration, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/replicas?repository=fleet/secret", siteC, new ReplicaRequest(sublease.Token));
        Assert.That(code, Is.EqualTo(HttpStatusCode.OK), configuration);
        foreach (var read in Reads("fleet/secret", secret, secretLayer))
        {
            var (status, body, _) = await SendAsync(http, read.Method, read.Path, siteC, read.Body);
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), $"{read.Method} {read.Path}: {body}");
        }
        // A grant is the peer's own: site-c's does not open fleet/secret to site-a.
        await AssertRefusedAsync(http, siteA, Reads("fleet/secret", secret, secretLayer)[3], 403,
            "peer 'site-a' was granted no replica of fleet/secret: a replica is granted when it is created with a sublease token from this server");

        // The operator takes a grant back; the running server stops honouring it once its short memory of it ends.
        var (revokeCode, revoked, _) = await primary.AdminAsync(["peer", "revoke", SiteC, "fleet/secret"]);
        Assert.That((revokeCode, revoked.Trim()), Is.EqualTo((0, "peer site-c may no longer read fleet/secret")));
        var configurationRead = Reads("fleet/secret", secret, secretLayer)[0];
        // Bounded: 15 s (the server remembers a grant it saw for 10 s).
        await Eventually.UntilAsync(async () => (await SendAsync(http, configurationRead.Method, configurationRead.Path, siteC, configurationRead.Body)).Item1,
            status => status != HttpStatusCode.OK, TimeSpan.FromSeconds(15), "the revoked grant is no longer honoured", TimeSpan.FromMilliseconds(500));
        await AssertRefusedAsync(http, siteC, configurationRead, 403,
            "peer 'site-c' was granted no replica of fleet/secret: a replica is granted when it is created with a sublease token from this server");
        (revokeCode, revoked, _) = await primary.AdminAsync(["peer", "revoke", SiteC, "fleet/secret"]);
        Assert.That((revokeCode, revoked.Trim()), Is.EqualTo((1, "peer site-c had no grant for fleet/secret")));
    }

    [Test]
    public async Task A_granted_repository_the_primary_no_longer_holds_is_404_problem_json_on_every_peer_endpoint()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using var client = primary.RegistryClient();
        var repository = client.Repository("fleet/app");
        var manifest = await Versions.PublishFileAsync(repository, primary.Server.Scratch, "app.bin", TestData.Binary(60_000, 1), "v1");
        var (v1, layer) = (manifest.Digest.ToString(), (await repository.FetchManifestAsync(manifest)).Layers[0].Digest.ToString());
        await using var replica = await TwoSites.ReplicateAsync(primary);
        await repository.DeleteManifestAsync(manifest.Digest);
        var http = primary.Server.Http;
        var token = await TokenAsync(http, TwoSites.User, TwoSites.Password, PeerScopes.Replicate);
        var reads = Reads("fleet/app", v1, layer);
        string[] details =
        [
            "this server holds no repository fleet/app",
            "this server holds no repository fleet/app",
            $"the from image fleet/app@{v1} does not exist",
            "", // tags/list: the distribution API lists an emptied repository as no tags
            "manifest fleet/app:v1 not found",
            $"manifest fleet/app:{v1} not found",
        ];
        for (var i = 0; i < details.Length; i++)
        {
            if (details[i].Length == 0)
            {
                var (status, body, _) = await SendAsync(http, reads[i].Method, reads[i].Path, token, reads[i].Body);
                Assert.That((status, body), Is.EqualTo((HttpStatusCode.OK, "{\"name\":\"fleet/app\",\"tags\":[]}")));
                continue;
            }
            await AssertRefusedAsync(http, token, reads[i], 404, details[i]);
        }
    }
}

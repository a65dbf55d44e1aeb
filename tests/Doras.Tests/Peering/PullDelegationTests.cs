using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;
using Doras.Server.Peering;

namespace Doras.Tests.Peering;

/// <summary>When the registry rate-limits the server (429), a trusted peer pulls for it; what comes back is verified, and the peer counts it.</summary>
public class PullDelegationTests
{
    [Test]
    public async Task A_429_from_the_registry_makes_a_trusted_peer_pull_the_manifest_and_blob_for_us()
    {
        await using var upstream = await RegistryProcess.StartAsync();
        await using var limiter = await LoopbackProxy.StartAsync(upstream.Url, faultsOn: path => path.Contains("/manifests/") || path.Contains("/blobs/"));
        var limited = limiter.Url.Authority;
        await using var helper = await PeerSite.StartAsync(new
        {
            TrustedPeers = new[] { new { Username = "site-a", Password = "pw-a-0123456789abcdefghijklmnopqrs", Scopes = new[] { PeerScopes.DelegatePull } } },
            DelegationRegistries = new[] { new { Host = limited, PlainHttp = true } },
        });
        using var dir = new TempDirectory();
        File.WriteAllText(dir["peers.json"], JsonSerializer.Serialize(new
        {
            Peering = new
            {
                Peers = new[] { new { Name = "helper", Url = helper.Server.Url.ToString(), Username = "site-a", Password = "pw-a-0123456789abcdefghijklmnopqrs", AllowHttp = true } },
                DelegatePullsTo = new[] { "helper" },
            },
        }));
        await using var server = await RunningServer.StartAsync("--registry", limited, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Peering:File", dir["peers.json"], "--Peering:SyncInterval", "0");

        using var publisher = new RegistryClient(upstream.Host, new RegistryClientOptions { PlainHttp = true });
        var content = TestData.Binary(200_000, 1);
        var v1 = await Versions.PublishFileAsync(publisher.Repository("fleet/app"), dir, "app.bin", content, "v1");
        var published = await publisher.Repository("fleet/app").FetchBytesAsync(v1);
        var layer = (await publisher.Repository("fleet/app").FetchManifestAsync(v1)).Layers[0];
        var delegated = helper.Server.Service<DelegatedPulls>();

        // A tag is not delegated (a peer's answer for a tag could not be checked): the registry's 429 is the server's
        // own to retry or report.
        limiter.Script(Fault.TooManyRequests);
        using (await server.Http.GetAsync("/v2/fleet/app/manifests/v1")) { }
        Assert.That(limiter.FaultsInjected, Is.EqualTo(1));
        Assert.That(delegated.Counts.ContainsKey("site-a"), Is.False);

        // The registry answers the server's manifest pull by digest with 429: the helper pulls it, and the bytes are the published ones.
        limiter.Script(Fault.TooManyRequests);
        using (var response = await server.Http.GetAsync($"/v2/fleet/app/manifests/{v1.Digest}"))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.EqualTo(published));
            Assert.That(response.Headers.GetValues("Docker-Content-Digest").Single(), Is.EqualTo(v1.Digest.ToString()));
        }
        Assert.That(limiter.FaultsInjected, Is.EqualTo(2));
        Assert.That(delegated.Counts["site-a"], Is.EqualTo(1));

        // Blobs take the same path.
        limiter.Script(Fault.TooManyRequests);
        var blob = await server.Http.GetByteArrayAsync($"/v2/fleet/app/blobs/{layer.Digest}");
        Assert.That(Digest.Compute(blob), Is.EqualTo(layer.Digest));
        Assert.That(limiter.FaultsInjected, Is.EqualTo(3));
        Assert.That(delegated.Counts["site-a"], Is.EqualTo(2));

        // The helper pulls only from the registries it was told to, and only for peers with the scope.
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.DelegatePull}")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("site-a:pw-a-0123456789abcdefghijklmnopqrs"))) },
        };
        using var tokenResponse = await helper.Server.Http.SendAsync(tokenRequest);
        var token = (await tokenResponse.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token;
        using var elsewhere = new HttpRequestMessage(HttpMethod.Post, "/peer/v1/pull-delegation/manifest")
        {
            Content = JsonContent.Create(new DelegatedPullRequest($"{upstream.Host}/fleet/app:v1", null, null), options: PeerApi.Json),
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
        };
        using var refused = await helper.Server.Http.SendAsync(elsewhere);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("detail").GetString(),
            Is.EqualTo($"this server pulls for peers only from the registries in Peering:DelegationRegistries, not from '{upstream.Host}'"));
        Assert.That(delegated.Counts["site-a"], Is.EqualTo(2));
    }

    [Test]
    public async Task Peers_pulling_for_us_get_only_the_pull_only_delegation_credentials_and_without_them_none()
    {
        const string Pusher = "pusher", PushSecret = "push-secret-of-the-server", Puller = "puller", PullSecret = "pull-only-secret-for-peers";
        await using var upstream = await RegistryProcess.StartWithBasicAuthAsync((Pusher, PushSecret), (Puller, PullSecret));
        await using var limiter = await LoopbackProxy.StartAsync(upstream.Url, faultsOn: path => path.Contains("/manifests/") || path.Contains("/blobs/"));
        var limited = limiter.Url.Authority;
        const string HelperPassword = "pw-a-0123456789abcdefghijklmnopqrs";
        await using var helper = await PeerSite.StartAsync(new
        {
            TrustedPeers = new[] { new { Username = "site-a", Password = HelperPassword, Scopes = new[] { PeerScopes.DelegatePull } } },
            DelegationRegistries = new[] { new { Host = limited, PlainHttp = true } },
        });
        await using var facade = await PrimaryFacade.StartAsync(helper.Server.Url); // sees what we send the helper
        using var dir = new TempDirectory();
        object Peering(bool pullOnlyCredentials) => new
        {
            Peering = new
            {
                Peers = new[] { new { Name = "helper", Url = facade.Url.ToString(), Username = "site-a", Password = HelperPassword, AllowHttp = true } },
                DelegatePullsTo = new[] { "helper" },
                DelegationCredentials = pullOnlyCredentials ? new[] { new { Host = limited, Username = Puller, Password = PullSecret } } : [],
            },
        };
        File.WriteAllText(dir["peers.json"], JsonSerializer.Serialize(Peering(pullOnlyCredentials: true)));
        // The server's own registry credentials may push.
        await using var server = await RunningServer.StartAsync("--registry", limited, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Registry:Credentials:0:Host", limited, "--Registry:Credentials:0:Username", Pusher, "--Registry:Credentials:0:Password", PushSecret,
            "--Peering:File", dir["peers.json"], "--Peering:SyncInterval", "0");

        using var publisher = new RegistryClient(upstream.Host, new RegistryClientOptions
        {
            PlainHttp = true, Credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [upstream.Host] = new(Pusher, PushSecret) }),
        });
        var content = TestData.Binary(100_000, 3);
        var v1 = await Versions.PublishFileAsync(publisher.Repository("fleet/app"), dir, "app.bin", content, "v1");
        var published = await publisher.Repository("fleet/app").FetchBytesAsync(v1);
        var image = $"{limited}/fleet/app@{v1.Digest}";

        // Rate-limited: the helper pulls with the pull-only credentials, which the upstream accepts.
        limiter.Script(Fault.TooManyRequests);
        using (var response = await server.Http.GetAsync($"/v2/fleet/app/manifests/{v1.Digest}"))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
            Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.EqualTo(published));
        }
        Assert.That(helper.Server.Service<DelegatedPulls>().Counts["site-a"], Is.EqualTo(1));
        var sent = facade.Bodies.Where(b => b.Path.StartsWith("/peer/v1/pull-delegation/", StringComparison.Ordinal)).ToList();
        Assert.That(sent.Select(b => b.Body), Is.EqualTo(new[] { JsonSerializer.Serialize(new DelegatedPullRequest(image, Puller, PullSecret), PeerApi.Json) }));
        Assert.That(facade.Bodies.Any(b => b.Body.Contains(PushSecret, StringComparison.Ordinal)), Is.False, "our push credentials never reach a peer");

        // Without pull-only credentials the helper is asked to pull anonymously; this upstream refuses that (401), so the
        // helper pulls nothing and the 429 stands (the server's own retry, past the limiter's one 429, then reads it).
        File.WriteAllText(dir["peers.json"], JsonSerializer.Serialize(Peering(pullOnlyCredentials: false)));
        var monitor = server.Service<Microsoft.Extensions.Options.IOptionsMonitor<PeeringOptions>>();
        await Eventually.UntilAsync(() => monitor.CurrentValue.DelegationCredentials.Count == 0, TimeSpan.FromSeconds(10), "the server reloads the peers file");
        facade.Bodies.Clear();
        limiter.Script(Fault.TooManyRequests);
        using (var response = await server.Http.GetAsync($"/v2/fleet/app/manifests/{v1.Digest}"))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(limiter.FaultsInjected, Is.EqualTo(2));
        Assert.That(facade.Bodies.Select(b => b.Body), Is.EqualTo(new[] { $"{{\"image\":\"{image}\"}}" }));
        Assert.That(helper.Server.Service<DelegatedPulls>().Counts["site-a"], Is.EqualTo(1));
    }
}

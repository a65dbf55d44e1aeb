using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Doras.Server.Peering;

namespace Doras.Tests.Peering;

/// <summary>The peer API's one rule, seen from outside: Basic credentials of a trusted peer for a token, a token with the right scope for everything else.</summary>
public class PeerAccessTests
{
    private static AuthenticationHeaderValue Basic(string user, string password) => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static async Task<string> TokenAsync(HttpClient http, AuthenticationHeaderValue credentials, string scope)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={scope}") { Headers = { Authorization = credentials } };
        using var response = await http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token;
    }

    private static async Task<(HttpStatusCode Status, JsonElement Problem, HttpResponseMessage Response)> SendAsync(HttpClient http, HttpMethod method, string path, AuthenticationHeaderValue? authorization, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body, options: PeerApi.Json) };
        request.Headers.Authorization = authorization;
        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json" ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, problem, response);
    }

    [Test]
    public async Task Peers_get_tokens_only_with_trusted_credentials_and_use_them_only_within_their_scopes()
    {
        await using var primary = await PeerSite.StartAsync(new
        {
            TrustedPeers = new object[]
            {
                new { Username = "site-a", Password = "pw-a-0123456789abcdefghijklmnopqrs" },
                new { Username = "helper", Password = "pw-h-0123456789abcdefghijklmnopqrs", Scopes = new[] { PeerScopes.DelegatePull } },
            },
        });
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(50_000, 1), "v1");
        var http = primary.Server.Http;

        var (status, problem, response) = await SendAsync(http, HttpMethod.Post, "/peer/v1/token", null);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Basic realm=\"doras-peer\""));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("the peer API needs the credentials of a trusted peer (HTTP Basic) to issue a token"));
        (status, _, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/token", Basic("site-a", "wrong"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        (status, problem, _) = await SendAsync(http, HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Replicate}", Basic("helper", "pw-h-0123456789abcdefghijklmnopqrs"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("peer 'helper' may not have the scope 'replicate'"));

        // Without a token, with a foreign one, with one of another scope: refused before the handler runs.
        (status, problem, response) = await SendAsync(http, HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app", null);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo($"Bearer realm=\"{primary.Server.Url.ToString().TrimEnd('/')}/peer/v1/token\""));
        foreach (var malformed in new[] { "not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.%%%.x" }) // "a.b.c" has a token's shape but decodes to nothing
        {
            (status, problem, _) = await SendAsync(http, HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app", new AuthenticationHeaderValue("Bearer", malformed));
            Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized), malformed);
            Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("the bearer token is not a peer token"), malformed);
        }
        var delegateOnly = new AuthenticationHeaderValue("Bearer", await TokenAsync(http, Basic("site-a", "pw-a-0123456789abcdefghijklmnopqrs"), PeerScopes.DelegatePull));
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app"), (HttpMethod.Get, "/peer/v1/v2/fleet/app/tags/list"), (HttpMethod.Post, "/peer/v1/sync?repository=fleet/app") })
        {
            (status, problem, _) = await SendAsync(http, method, path, delegateOnly, method == HttpMethod.Post ? new SyncRequest(new Dictionary<string, string>()) : null);
            Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden), path);
            Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("the peer token of 'site-a' does not carry the scope 'replicate' this request needs"), path);
        }

        // With the right scope, and the repository granted by a redeemed sublease token: its configuration and content.
        var replicate = new AuthenticationHeaderValue("Bearer", await TokenAsync(http, Basic("site-a", "pw-a-0123456789abcdefghijklmnopqrs"), PeerScopes.Replicate));
        (status, problem, _) = await SendAsync(http, HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app", replicate);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(problem.GetProperty("detail").GetString(),
            Is.EqualTo("peer 'site-a' was granted no replica of fleet/app: a replica is granted when it is created with a sublease token from this server"));
        var (_, sublease, _) = await primary.AdminAsync(["sublease", "fleet/app", "--json"]);
        (status, _, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/replicas?repository=fleet/app", replicate,
            new ReplicaRequest(JsonDocument.Parse(sublease).RootElement.GetProperty("token").GetString()));
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        (status, _, response) = await SendAsync(http, HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app", replicate);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        var configuration = await response.Content.ReadFromJsonAsync<RepositoryConfiguration>(PeerApi.Json);
        Assert.That(configuration!.Algorithms, Is.EqualTo(new[] { "bsdiff", "bsdiff-exe", "bsdiff-lzma", "deflate", "octodiff", "tardiff", "zstd" }));
        (status, _, response) = await SendAsync(http, HttpMethod.Get, "/peer/v1/v2/fleet/app/tags/list", replicate);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("{\"name\":\"fleet/app\",\"tags\":[\"v1\"]}"));

        (status, problem, _) = await SendAsync(http, HttpMethod.Get, "/peer/v1/v2/doras-peering/tags/list", replicate);
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("doras-peering is not served to peers"));

        // A replica cannot be registered without a sublease token; the refusal is problem+json.
        (status, problem, _) = await SendAsync(http, HttpMethod.Post, "/peer/v1/replicas?repository=fleet/app", replicate, new ReplicaRequest(null));
        Assert.That(status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(problem.GetProperty("title").GetString(), Is.EqualTo("Sublease token required"));

        // A token signed for another password (the peer rotated) is refused.
        await primary.RewritePeeringAsync(new { TrustedPeers = new[] { new { Username = "site-a", Password = "pw-a2-rotated-0123456789abcdefghij" } } }, o => o.TrustedPeers.Count == 1 && o.TrustedPeers[0].Password == "pw-a2-rotated-0123456789abcdefghij");
        (status, problem, _) = await SendAsync(http, HttpMethod.Get, "/peer/v1/configuration?repository=fleet/app", replicate);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("the peer token is not valid (signed with other credentials?)"));
    }

    [Test]
    public async Task The_peer_client_renews_its_token_and_picks_up_rotated_credentials_without_a_restart()
    {
        await using var primary = await TwoSites.PrimaryAsync("--Peering:TokenLifetime", "00:00:02");
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(50_000, 1), "v1");
        var clock = new ShiftedClock();
        await using var replica = await TwoSites.ReplicateWithClockAsync(primary, clock);
        var peer = replica.Server.Service<PeerClients>().For("primary", PeerScopes.Replicate);
        Task<RepositoryConfiguration> AskAsync() => peer.SendAsync<RepositoryConfiguration>(HttpMethod.Get, "configuration?repository=fleet/app", null, CancellationToken.None);

        Assert.That((await AskAsync()).Repository, Is.EqualTo("fleet/app"));
        Assert.That((await AskAsync()).Repository, Is.EqualTo("fleet/app"));
        Assert.That(peer.Tokens.TokensFetched, Is.EqualTo(1), "a valid token is reused");
        clock.Advance(TimeSpan.FromSeconds(1.8)); // the replica's clock, past four fifths of the 2 s lifetime (the primary still takes the token)
        await AskAsync();
        Assert.That(peer.Tokens.TokensFetched, Is.EqualTo(2), "renewed before it expired");

        // The primary rotates first: our token and our old password are refused, with the peer's own words.
        await primary.RewritePeeringAsync(new { TrustedPeers = new[] { new { Username = TwoSites.User, Password = "second-secret-of-site-a-0123456789" } } },
            o => o.TrustedPeers.Single().Password == "second-secret-of-site-a-0123456789");
        var refused = (await Assert.ThrowsAsync<PeerTokenException>(AskAsync))!;
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(refused.Message, Does.StartWith("peer primary refused our peering credentials: 401 Unauthorized (Not authorized: the peer API needs the credentials of a trusted peer"));

        // Then the replica's operator rotates ours: the running server uses the new password at once.
        await replica.RewritePeeringAsync(TwoSites.ReplicaPeering(primary, "second-secret-of-site-a-0123456789"), o => o.Peers.Single().Password == "second-secret-of-site-a-0123456789");
        Assert.That((await AskAsync()).Repository, Is.EqualTo("fleet/app"));
        Assert.That(peer.Tokens.TokensFetched, Is.EqualTo(3));
    }

    [Test]
    public async Task A_token_the_peer_no_longer_accepts_is_replaced_once_and_the_request_sent_again_with_its_body_and_no_cookie_a_peer_set()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(50_000, 1), "v1");
        await using var facade = await PrimaryFacade.StartAsync(primary.Server.Url);
        await using var replica = await TwoSites.ReplicateAsync(primary, TwoSites.ReplicaPeering(facade.Url));
        facade.SetCookie = "peer-session=planted; Path=/"; // a peer (or a proxy before it) must not plant state our calls carry
        var peer = replica.Server.Service<PeerClients>().For("primary", PeerScopes.Replicate);
        var state = new SyncRequest(new Dictionary<string, string> { ["gone"] = "sha256:" + new string('0', 64) });
        Task<SyncAnswer> SyncAsync() => peer.SendAsync<SyncAnswer>(HttpMethod.Post, "sync?repository=fleet/app", state, CancellationToken.None);

        var first = await SyncAsync();
        Assert.That(peer.Tokens.TokensFetched, Is.EqualTo(1));
        facade.RefuseNextToken = true;
        var second = await SyncAsync();
        Assert.That(peer.Tokens.TokensFetched, Is.EqualTo(2), "a new token after the 401");
        Assert.That(facade.RefuseNextToken, Is.False, "the 401 was given");
        foreach (var answer in new[] { first, second })
        {
            Assert.That(answer.Deleted, Is.EqualTo(new[] { "gone" }), "the body reached the primary both times");
            Assert.That(answer.Changed.Keys, Is.EqualTo(new[] { "v1" }));
        }
        Assert.That(facade.Cookies, Is.Empty);
    }
}

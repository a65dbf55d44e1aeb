using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Doras.Server.Peering;

namespace Doras.Tests.Peering;

/// <summary>Creating a replica takes a sublease token from the primary: single use, expiring, issued only by the primary.</summary>
public class SubleaseTests
{
    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement.Clone();

    [Test]
    public async Task A_replica_is_created_only_with_a_fresh_unused_sublease_token_from_the_primary()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(100_000, 1), "v1", "stable");
        await using var replica = await TwoSites.ReplicaAsync(primary);
        string[] Add(string? token) => token is null
            ? ["replica", "add", "fleet/app", "--from", "primary", "--json"]
            : ["replica", "add", "fleet/app", "--from", "primary", "--sublease", token, "--json"];

        // Without a token.
        var (code, output, errors) = await replica.AdminAsync(Add(null));
        Assert.That(code, Is.EqualTo(1));
        const string required = "peer primary refused POST replicas?repository=fleet%2Fapp: 403 Forbidden (Sublease token required: creating a replica of fleet/app needs a sublease token from its primary (doras-server sublease fleet/app))";
        Assert.That(errors.Trim(), Is.EqualTo("doras-server: " + required));
        Assert.That(Json(output).GetProperty("error").GetString(), Is.EqualTo(required));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.Empty);
        (code, output, _) = await replica.AdminAsync(["replica", "list", "--json"]);
        Assert.That(Json(output).GetProperty("replicas").GetArrayLength(), Is.Zero);

        // A token the primary never issued.
        (code, _, errors) = await replica.AdminAsync(Add("made-up-token"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors, Does.Contain("(Sublease token unknown: this server issued no such sublease token for fleet/app)"));

        // A fresh token: the replica is made with the primary's configuration, and synced.
        (code, output, _) = await primary.AdminAsync(["sublease", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero);
        var token = Json(output).GetProperty("token").GetString()!;
        var tokenFile = replica.Server.Scratch["sublease-token"];
        File.WriteAllText(tokenFile, token + "\n"); // from a file: a token on the command line shows in the process list
        (code, output, errors) = await replica.AdminAsync(["replica", "add", "fleet/app", "--from", "primary", "--sublease-file", tokenFile, "--json"]);
        Assert.That(code, Is.Zero, errors);
        var added = Json(output);
        Assert.That(added.GetProperty("replica").GetProperty("peer").GetString(), Is.EqualTo("primary"));
        Assert.That(added.GetProperty("replica").GetProperty("configuration").GetProperty("algorithms").EnumerateArray().Select(a => a.GetString()),
            Is.EqualTo(new[] { "bsdiff", "bsdiff-exe", "bsdiff-lzma", "deflate", "octodiff", "tardiff", "zstd" }));
        Assert.That(added.GetProperty("replica").GetProperty("configuration").GetProperty("zstd_level").GetInt32(), Is.EqualTo(19));
        Assert.That(added.GetProperty("sync").GetProperty("added").EnumerateArray().Select(a => a.GetString()), Is.EqualTo(new[] { "stable", "v1" }));
        Assert.That(await replica.TagsAsync("fleet/app"), Is.EqualTo(await primary.TagsAsync("fleet/app")));
        (code, output, _) = await replica.AdminAsync(["replica", "list", "--json"]);
        Assert.That(Json(output).GetProperty("replicas")[0].GetProperty("repository").GetString(), Is.EqualTo("fleet/app"));

        // The same token again.
        (code, _, errors) = await replica.AdminAsync(Add(token));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors, Does.Contain("(Sublease token already used: this sublease token for fleet/app has been used to create a replica already; ask the primary for a new one)"));

        // An expired token (this one lives one second).
        (code, output, _) = await primary.AdminAsync(["sublease", "fleet/app", "--json"], "--Peering:SubleaseLifetime", "00:00:01");
        var shortLived = Json(output);
        // The admin command that sweeps it later runs on the system clock too: wait for the expiry itself, not a guess.
        var expiresAt = shortLived.GetProperty("expires_at").GetDateTimeOffset();
        await Eventually.UntilAsync(() => DateTimeOffset.UtcNow > expiresAt, TimeSpan.FromSeconds(5), $"the sublease token's expiry ({expiresAt:O})", TimeSpan.FromMilliseconds(20));
        (code, _, errors) = await replica.AdminAsync(Add(shortLived.GetProperty("token").GetString()));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors, Does.Contain($"(Sublease token expired: this sublease token for fleet/app expired at {shortLived.GetProperty("expires_at").GetDateTimeOffset():O}; ask the primary for a new one)"));

        // Issuing sweeps the records of expired tokens: that one is now unknown; the used one (not expired) stays used.
        (code, _, errors) = await primary.AdminAsync(["sublease", "fleet/app", "--json"]);
        Assert.That(code, Is.Zero, errors);
        (code, _, errors) = await replica.AdminAsync(Add(shortLived.GetProperty("token").GetString()));
        Assert.That(errors, Does.Contain("(Sublease token unknown: this server issued no such sublease token for fleet/app)"));
        (code, _, errors) = await replica.AdminAsync(Add(token));
        Assert.That(errors, Does.Contain("(Sublease token already used:"));

        // Only the primary issues tokens: not the replica, and not for a repository it does not hold.
        (code, _, errors) = await replica.AdminAsync(["sublease", "fleet/app"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors.Trim(), Is.EqualTo("doras-server: Not the primary: fleet/app is a replica of peer 'primary' here; only its primary issues sublease tokens"));
        (code, _, errors) = await primary.AdminAsync(["sublease", "fleet/other"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors.Trim(), Is.EqualTo("doras-server: Image not found: this server holds no repository fleet/other"));
    }

    [Test]
    public async Task Of_concurrent_redemptions_of_one_sublease_token_exactly_one_creates_a_replica()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(50_000, 1), "v1");
        var (_, output, _) = await primary.AdminAsync(["sublease", "fleet/app", "--json"]);
        var sublease = Json(output).GetProperty("token").GetString();
        var http = primary.Server.Http;
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Replicate}");
        tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TwoSites.User}:{TwoSites.Password}")));
        using var tokenResponse = await http.SendAsync(tokenRequest);
        var token = (await tokenResponse.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token;

        async Task<(HttpStatusCode Status, string Body)> RedeemAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/peer/v1/replicas?repository=fleet/app")
            {
                Content = JsonContent.Create(new ReplicaRequest(sublease), options: PeerApi.Json),
                Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
            };
            using var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        var redemptions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => RedeemAsync()));
        Assert.That(redemptions.Count(r => r.Status == HttpStatusCode.OK), Is.EqualTo(1), string.Join("\n", redemptions.Select(r => $"{r.Status} {r.Body}")));
        foreach (var refused in redemptions.Where(r => r.Status != HttpStatusCode.OK))
        {
            Assert.That(refused.Status, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(Json(refused.Body).GetProperty("title").GetString(), Is.EqualTo("Sublease token already used"));
        }
    }

    [Test]
    public async Task Replicas_added_at_once_by_separate_commands_all_keep_their_records()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        string[] repositories = ["fleet/a", "fleet/b", "fleet/c", "fleet/d"];
        using (var client = primary.RegistryClient())
            for (var i = 0; i < repositories.Length; i++)
                await Versions.PublishFileAsync(client.Repository(repositories[i]), primary.Server.Scratch, "app.bin", TestData.Binary(20_000, i + 1), "v1");
        var tokens = new List<string>();
        foreach (var repository in repositories)
            tokens.Add(Json((await primary.AdminAsync(["sublease", repository, "--json"])).Out).GetProperty("token").GetString()!);
        await using var replica = await TwoSites.ReplicaAsync(primary);

        // Each command is its own process's worth of state (its own app), as when two operators add replicas at once.
        var adds = await Task.WhenAll(repositories.Select((repository, i) => replica.AdminAsync(["replica", "add", repository, "--from", "primary", "--sublease", tokens[i]])));
        foreach (var (code, _, errors) in adds) Assert.That(code, Is.Zero, errors);
        var (_, output, _) = await replica.AdminAsync(["replica", "list", "--json"]);
        Assert.That(Json(output).GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("repository").GetString()), Is.EqualTo(repositories));
        Assert.That(await replica.Server.Service<ReplicaRecords>().ListAsync(CancellationToken.None, fresh: true), Has.Count.EqualTo(4));
    }

    [Test]
    public async Task A_peer_holds_at_most_MaxOutstandingSubleases_unused_tokens()
    {
        const string Password = "site-c-secret-0123456789abcdefghij";
        await using var primary = await PeerSite.StartAsync(new
        {
            TrustedPeers = new[] { new { Username = "site-c", Password, Scopes = new[] { PeerScopes.Replicate, PeerScopes.Sublease } } },
            MaxOutstandingSubleases = 2,
        });
        using (var client = primary.RegistryClient())
            await Versions.PublishFileAsync(client.Repository("fleet/app"), primary.Server.Scratch, "app.bin", TestData.Binary(20_000, 1), "v1");
        var http = primary.Server.Http;
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={Uri.EscapeDataString($"{PeerScopes.Replicate} {PeerScopes.Sublease}")}");
        tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"site-c:{Password}")));
        using var tokenResponse = await http.SendAsync(tokenRequest);
        var bearer = new AuthenticationHeaderValue("Bearer", (await tokenResponse.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token);
        async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, object? body = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body is null ? null : JsonContent.Create(body, options: PeerApi.Json) };
            request.Headers.Authorization = bearer;
            using var response = await http.SendAsync(request);
            return (response.StatusCode, Json(await response.Content.ReadAsStringAsync()));
        }

        var first = await PostAsync("/peer/v1/subleases?repository=fleet/app");
        var second = await PostAsync("/peer/v1/subleases?repository=fleet/app");
        Assert.That((first.Status, second.Status), Is.EqualTo((HttpStatusCode.OK, HttpStatusCode.OK)));
        var third = await PostAsync("/peer/v1/subleases?repository=fleet/app");
        Assert.That(third.Status, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(third.Body.GetProperty("title").GetString(), Is.EqualTo("Too many sublease tokens"));
        Assert.That(third.Body.GetProperty("detail").GetString(),
            Is.EqualTo("peer 'site-c' holds 2 unused sublease tokens (Peering:MaxOutstandingSubleases); redeem one or let it expire first"));
        // The operator's own tokens are not the peer's.
        Assert.That((await primary.AdminAsync(["sublease", "fleet/app"])).Code, Is.Zero);

        // Redeeming one frees its place.
        var redeemed = await PostAsync("/peer/v1/replicas?repository=fleet/app", new ReplicaRequest(first.Body.GetProperty("token").GetString()));
        Assert.That(redeemed.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await PostAsync("/peer/v1/subleases?repository=fleet/app")).Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await PostAsync("/peer/v1/subleases?repository=fleet/app")).Status, Is.EqualTo(HttpStatusCode.Forbidden));
    }
}

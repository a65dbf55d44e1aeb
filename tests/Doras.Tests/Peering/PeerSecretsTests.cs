using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Doras.Server.Peering;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Doras.Tests.Peering;

/// <summary>Peer passwords long enough to key tokens, keys derived with HKDF for their purpose, and no plain-http peer unless allowed.</summary>
[NonParallelizable] // changes an environment variable of the whole process
public class PeerSecretsTests
{
    private const string ShortRefusal =
        "Peering:TrustedPeers: the password of peer 'site-a' has 31 characters; peer passwords need at least 32 (e.g. openssl rand -base64 32)";

    [Test]
    public async Task A_server_refuses_to_start_with_a_short_peer_password_or_a_plain_http_peer_it_was_not_allowed()
    {
        var shortPassword = new string('x', 31);
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync(
            "--Peering:TrustedPeers:0:Username", "site-a", "--Peering:TrustedPeers:0:Password", shortPassword));
        Assert.That(refused!.Message, Is.EqualTo(ShortRefusal));

        refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync(
            "--Peering:Peers:0:Name", "hq", "--Peering:Peers:0:Url", "http://127.0.0.1:9/", "--Peering:Peers:0:Username", "site-a",
            "--Peering:Peers:0:Password", TwoSites.Password));
        Assert.That(refused!.Message, Is.EqualTo("Peering:Peers: peer 'hq' has a plain-http URL (http://127.0.0.1:9/), which would carry our credentials " +
            "and its tokens readable: use https, or set AllowHttp for it on a trusted network"));

        // Allowed explicitly (a trusted network), with a long enough password: it starts.
        await using var allowed = await RunningServer.StartAsync(
            "--Peering:Peers:0:Name", "hq", "--Peering:Peers:0:Url", "http://127.0.0.1:9/", "--Peering:Peers:0:Username", "site-a",
            "--Peering:Peers:0:Password", TwoSites.Password, "--Peering:Peers:0:AllowHttp", "true", "--Peering:SyncInterval", "0");
        Assert.That(allowed.Service<PeerClients>().For("hq", PeerScopes.Replicate).BaseAddress, Is.EqualTo(new Uri("http://127.0.0.1:9/peer/v1/")));
    }

    [Test]
    public async Task The_admin_commands_write_no_short_password_and_no_plain_http_peer_without_allow_http()
    {
        await using var site = await PeerSite.StartAsync(new { });
        var (code, _, errors) = await site.AdminAsync(["peer", "trust", "site-a", "--password", new string('x', 31)]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors.Trim(), Is.EqualTo("doras-server: " + ShortRefusal));
        (code, _, errors) = await site.AdminAsync(["peer", "add", "hq", "--url", "http://127.0.0.1:9/", "--username", "site-a", "--password", TwoSites.Password]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors.Trim(), Does.StartWith("doras-server: Peering:Peers: peer 'hq' has a plain-http URL (http://127.0.0.1:9/)"));
        Assert.That(File.ReadAllText(site.PeersFile), Is.EqualTo("{\"Peering\":{}}"), "nothing written");

        (code, _, errors) = await site.AdminAsync(["peer", "add", "hq", "--url", "http://127.0.0.1:9/", "--username", "site-a", "--password", TwoSites.Password, "--allow-http"]);
        Assert.That(code, Is.Zero, errors);
        var (_, listed, _) = await site.AdminAsync(["peer", "list", "--json"]);
        Assert.That(listed.Trim(), Is.EqualTo("{\"peers\":[{\"name\":\"hq\",\"url\":\"http://127.0.0.1:9/\",\"username\":\"site-a\"}],\"trusted_peers\":[],\"delegate_pulls_to\":[]}"));
    }

    [Test]
    public async Task Peer_tokens_are_signed_with_an_HKDF_key_of_the_password_for_their_purpose_and_a_peer_whose_password_became_short_is_refused()
    {
        await using var primary = await TwoSites.PrimaryAsync();
        var http = primary.Server.Http;
        async Task<HttpResponseMessage> TokenAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Replicate}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TwoSites.User}:{TwoSites.Password}")));
            return await http.SendAsync(request);
        }
        using var issued = await TokenAsync();
        var token = (await issued.Content.ReadFromJsonAsync<TokenAnswer>(PeerApi.Json))!.Token;

        // Checked independently: the key is HKDF-SHA256(password, salt = user name, info = the purpose label).
        var hkdf = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(TwoSites.Password), 32, Encoding.UTF8.GetBytes(TwoSites.User),
            "doras peer API token signing key v1"u8.ToArray());
        var parameters = new TokenValidationParameters { ValidIssuer = "doras-peer-api", ValidAudience = "doras-peer-api", IssuerSigningKey = new SymmetricSecurityKey(hkdf) };
        var valid = await new JsonWebTokenHandler().ValidateTokenAsync(token, parameters);
        Assert.That(valid.IsValid, Is.True, valid.Exception?.Message);
        parameters.IssuerSigningKey = new SymmetricSecurityKey(HMACSHA256.HashData(Encoding.UTF8.GetBytes(TwoSites.Password), Encoding.UTF8.GetBytes("doras-peer-token-v1:" + TwoSites.User)));
        Assert.That((await new JsonWebTokenHandler().ValidateTokenAsync(token, parameters)).IsValid, Is.False, "not the plain HMAC of the password");

        // The peers file is reloaded with a short password: that peer is no longer trusted (the server keeps running).
        await primary.RewritePeeringAsync(new { TrustedPeers = new[] { new { Username = TwoSites.User, Password = "too-short" } } },
            o => o.TrustedPeers.Single().Password == "too-short");
        using var refused = await TokenAsync();
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/peer/v1/v2/");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var withOldToken = await http.SendAsync(request);
        Assert.That(withOldToken.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using var health = await http.GetAsync("/healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Peer_add_and_trust_take_the_password_from_a_file_or_the_environment_not_only_the_command_line()
    {
        await using var site = await PeerSite.StartAsync(new { });
        using var dir = new TempDirectory();
        const string FromFile = "password-from-a-file-0123456789abcdef", FromVariable = "password-from-the-environment-0123456789";
        File.WriteAllText(dir["hq.password"], FromFile + "\n");
        var (code, _, errors) = await site.AdminAsync(["peer", "add", "hq", "--url", "https://hq.example", "--username", "site-a", "--password-file", dir["hq.password"]]);
        Assert.That(code, Is.Zero, errors);

        (code, _, errors) = await site.AdminAsync(["peer", "trust", "site-b"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(errors.Trim(), Is.EqualTo("doras-server: give the password in a file (--password-file FILE) or in DORAS_PEER_PASSWORD " +
            "(--password works too, but other users see it in the process list)"));
        Environment.SetEnvironmentVariable(SecretSource.PeerPassword().Variable, FromVariable);
        try
        {
            (code, _, errors) = await site.AdminAsync(["peer", "trust", "site-b"]);
            Assert.That(code, Is.Zero, errors);
        }
        finally { Environment.SetEnvironmentVariable(SecretSource.PeerPassword().Variable, null); }

        using var saved = System.Text.Json.JsonDocument.Parse(File.ReadAllText(site.PeersFile));
        var peering = saved.RootElement.GetProperty("Peering");
        Assert.That(peering.GetProperty("Peers")[0].GetProperty("Password").GetString(), Is.EqualTo(FromFile));
        Assert.That(peering.GetProperty("TrustedPeers")[0].GetProperty("Password").GetString(), Is.EqualTo(FromVariable));
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Doras.Server.Peering;

namespace Doras.Tests.Server;

/// <summary>
/// A trusted peer's Basic credentials, compared as every shared secret is (hashed, then in constant time): the right
/// ones get a token, a wrong password of any length or a wrong user name does not. (That a refusal's time tells
/// nothing of the password's length is not measurable reliably here; the comparison is <c>BearerSecret.Same</c>.)
/// </summary>
public class PeerCredentialsTests
{
    private const string Password = "0123456789abcdef0123456789abcdef-peer";

    [Test]
    public async Task Only_the_trusted_peers_exact_credentials_get_a_token()
    {
        await using var server = await RunningServer.StartAsync(
            "--Peering:TrustedPeers:0:Username", "site-a", "--Peering:TrustedPeers:0:Password", Password, "--Peering:SyncInterval", "0");
        async Task<HttpStatusCode> TokenAsync(string user, string password)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/peer/v1/token?scope={PeerScopes.Replicate}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
            using var response = await server.Http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.That(await TokenAsync("site-a", Password), Is.EqualTo(HttpStatusCode.OK));
        foreach (var wrong in new[] { "", "x", Password[..^1], Password + "x", Password[..^1] + "X", Password.ToUpperInvariant() })
            Assert.That(await TokenAsync("site-a", wrong), Is.EqualTo(HttpStatusCode.Unauthorized), $"password '{wrong}'");
        Assert.That(await TokenAsync("site-b", Password), Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await TokenAsync("site-a ", Password), Is.EqualTo(HttpStatusCode.Unauthorized));
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Server;

/// <summary>
/// <c>GET /v2/</c> in registry mode with client authorization required authorizes like every other endpoint: the
/// registry decides on the caller's header (a header alone admits no one), and the token challenge flow of docker,
/// skopeo and our own client still ends in 200.
/// </summary>
[NonParallelizable]
public class RegistryPingTests
{
    private TempDirectory _dir = null!;
    private TokenServer _tokens = null!;
    private RegistryProcess _registry = null!;
    private RunningServer _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _dir = new TempDirectory();
        _tokens = await TokenServer.StartAsync(_dir.Path);
        _tokens.OtherUsers["bob"] = ("b0b-pass", "team/app");
        _registry = await RegistryProcess.StartWithTokenAuthAsync(_tokens.Realm, _tokens.CertificatePath);
        _server = await RunningServer.StartAsync("--registry", _registry.Host, "--Registry:PlainHttp", "true");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        await _registry.DisposeAsync();
        await _tokens.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<HttpResponseMessage> PingAsync(AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
        request.Headers.Authorization = authorization;
        return await _server.Http.SendAsync(request);
    }

    [Test]
    public async Task A_header_the_registry_refuses_gets_401_with_the_registrys_challenge()
    {
        foreach (var refused in new[]
        {
            new AuthenticationHeaderValue("Bearer", "not-a-token"),
            new AuthenticationHeaderValue("Basic", Convert.ToBase64String("bob:wrong"u8.ToArray())),
            new AuthenticationHeaderValue("Anything", "at-all"),
        })
        {
            using var response = await PingAsync(refused);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), refused.ToString());
            Assert.That(response.Headers.WwwAuthenticate.Single().Parameter, Does.Contain($"realm=\"{_tokens.Realm}\""), refused.ToString());
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("the registry refused this client's authorization"));
        }
    }

    [Test]
    public async Task A_token_the_registry_accepts_gets_200_as_a_v2_registry()
    {
        // As docker login gets it: Basic credentials at the realm, no scope.
        using var http = new HttpClient();
        using var tokenRequest = new HttpRequestMessage(HttpMethod.Get, $"{_tokens.Realm}?service=test-registry");
        tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:b0b-pass")));
        using var issued = await http.SendAsync(tokenRequest);
        using var answer = JsonDocument.Parse(await issued.Content.ReadAsStringAsync());
        using var response = await PingAsync(new AuthenticationHeaderValue("Bearer", answer.RootElement.GetProperty("token").GetString()));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues(RegistryClient.ApiVersionHeader).Single(), Is.EqualTo("registry/2.0"));
    }

    [Test]
    public async Task Our_client_and_skopeo_follow_the_challenge_of_the_ping_to_a_token_and_back()
    {
        var bob = new StaticCredentialProvider(new Dictionary<string, Credential> { [_server.Url.Authority] = new("bob", "b0b-pass") });
        using (var client = new RegistryClient(_server.Url.Authority, new RegistryClientOptions { PlainHttp = true, Credentials = bob }))
            Assert.That(await client.GetVersionAsync(), Is.EqualTo("registry/2.0"));

        var auth = _dir["skopeo-auth.json"];
        var (code, output) = ExternalTool.Run("skopeo", "login", "--tls-verify=false", "--authfile", auth, "-u", "bob", "-p", "b0b-pass", _server.Url.Authority);
        Assert.That(code, Is.Zero, output);
        (code, output) = ExternalTool.Run("skopeo", "login", "--tls-verify=false", "--authfile", _dir["skopeo-wrong.json"], "-u", "bob", "-p", "wrong", _server.Url.Authority);
        Assert.That(code, Is.Not.Zero, output);
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Api;
using Doras.Delta.Octodiff;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Server;

/// <summary>
/// Who may read what, in registry mode with client authorization required (the default), against a real
/// docker-registry with token auth: alice may read everything under team/, bob only team/app. Every endpoint that
/// reads images (delta API, signature delta API, /v2/) answers alike.
/// </summary>
[NonParallelizable]
public class ClientAccessTests
{
    private TempDirectory _dir = null!;
    private TokenServer _tokens = null!;
    private RegistryProcess _registry = null!;
    private RunningServer _server = null!;
    private Descriptor _appV1 = null!, _secretV1 = null!, _secretV2 = null!;
    private Digest _appLayer, _secretLayer;
    private byte[] _secretV1Bytes = null!;
    private AuthenticationHeaderValue _bobAppToken = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _dir = new TempDirectory();
        _tokens = await TokenServer.StartAsync(_dir.Path);
        _tokens.OtherUsers["bob"] = ("b0b-pass", "team/app");   // exactly one repository ("team/app" and nothing else below team/)
        _registry = await RegistryProcess.StartWithTokenAuthAsync(_tokens.Realm, _tokens.CertificatePath);
        var alice = new StaticCredentialProvider(new Dictionary<string, Credential> { [_registry.Host] = new(_tokens.Account.User, _tokens.Account.Password) });
        using var publisher = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = alice });

        var app = TestData.Binary(200_000, 1);
        _appV1 = await Versions.PublishFileAsync(publisher.Repository("team/app"), _dir, "app.bin", app, "v1");
        await Versions.PublishFileAsync(publisher.Repository("team/app"), _dir, "app.bin", TestData.Edit(app, 2), "v2");
        _secretV1Bytes = TestData.Binary(200_000, 7);
        _secretV1 = await Versions.PublishFileAsync(publisher.Repository("team/secret"), _dir, "secret.bin", _secretV1Bytes, "v1");
        _secretV2 = await Versions.PublishFileAsync(publisher.Repository("team/secret"), _dir, "secret.bin", TestData.Edit(_secretV1Bytes, 3), "v2");
        _appLayer = (await publisher.Repository("team/app").FetchManifestAsync(_appV1)).Layers[0].Digest;
        _secretLayer = (await publisher.Repository("team/secret").FetchManifestAsync(_secretV1)).Layers[0].Digest;

        _server = await RunningServer.StartAsync("--registry", _registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", _registry.Host, "--Registry:Credentials:0:Username", "alice", "--Registry:Credentials:0:Password", "s3cret");

        var bob = new StaticCredentialProvider(new Dictionary<string, Credential> { [_registry.Host] = new("bob", "b0b-pass") });
        using var bobClient = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = bob });
        _bobAppToken = await bobClient.ReadAuthorizationAsync("team/app") ?? throw new InvalidOperationException("bob got no token for team/app");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        await _registry.DisposeAsync();
        await _tokens.DisposeAsync();
        _dir.Dispose();
    }

    private string Image(string repository, string identifier) => $"{_registry.Host}/{repository}{identifier}";

    private string DeltaQuery(string repository, Descriptor from) =>
        $"{DeltaApi.Path}?{DeltaApi.FromDigest}={Uri.EscapeDataString(Image(repository, "@" + from.Digest))}&{DeltaApi.ToTag}={Uri.EscapeDataString(Image(repository, ":v2"))}&{DeltaApi.AcceptedAlgorithm}=zstd";

    private string SignatureQuery(string repository) => $"{DeltaApi.SignaturePath}?{DeltaApi.ToTag}={Uri.EscapeDataString(Image(repository, ":v2"))}";

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, AuthenticationHeaderValue? authorization, byte[]? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        if (body is not null) request.Content = new ByteArrayContent(body);
        return await _server.Http.SendAsync(request);
    }

    private byte[] SignatureOf(byte[] content)
    {
        using var signature = new MemoryStream();
        OctodiffSignature.WriteAsync(new MemoryStream(content), signature).GetAwaiter().GetResult();
        return signature.ToArray();
    }

    private static IEnumerable<(HttpMethod Method, string Path)> ImageReads(string repository, Descriptor v1, Digest layer) =>
    [
        (HttpMethod.Get, $"/v2/{repository}/tags/list"),
        (HttpMethod.Get, $"/v2/{repository}/manifests/v1"),
        (HttpMethod.Head, $"/v2/{repository}/manifests/{v1.Digest}"),
        (HttpMethod.Get, $"/v2/{repository}/blobs/{layer}"),
        (HttpMethod.Head, $"/v2/{repository}/blobs/{layer}"),
    ];

    [Test]
    public async Task Without_credentials_every_image_endpoint_answers_401_with_the_registrys_challenge_before_any_registry_read()
    {
        var tokensBefore = _tokens.TokensIssued;
        var buildsBefore = _server.Builder.BuildsStarted;
        var paths = ImageReads("team/secret", _secretV1, _secretLayer).Select(r => (r.Method, r.Path, Body: (byte[]?)null))
            .Append((HttpMethod.Get, DeltaQuery("team/secret", _secretV1), null))
            // A signature over the size limit is still 401, not 413: nothing of the body is looked at before authorization.
            .Append((HttpMethod.Post, SignatureQuery("team/secret"), SignatureOf(_secretV1Bytes)));
        foreach (var (method, path, body) in paths)
        {
            using var response = await SendAsync(method, path, authorization: null, body);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"{method} {path}");
            var challenge = response.Headers.WwwAuthenticate.Single();
            Assert.That(challenge.Scheme, Is.EqualTo("Bearer"), path);
            Assert.That(challenge.Parameter, Does.Contain($"realm=\"{_tokens.Realm}\"").And.Contain("service=\"test-registry\"")
                .And.Contain("scope=\"repository:team/secret:pull\""), path);
            if (method != HttpMethod.Head)
            {
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), path);
                using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("Registry:RequireClientAuth"), path);
            }
        }
        using (var ping = await SendAsync(HttpMethod.Get, "/v2/", null))
            Assert.That(ping.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));

        // The server never authenticated to the registry on these callers' behalf, nor started work for them.
        Assert.That(_tokens.TokensIssued, Is.EqualTo(tokensBefore));
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(buildsBefore));
    }

    [Test]
    public async Task A_token_for_one_repository_reads_that_one_and_is_refused_by_the_registry_for_another_on_every_endpoint()
    {
        var buildsBefore = _server.Builder.BuildsStarted;
        foreach (var (method, path) in ImageReads("team/app", _appV1, _appLayer))
        {
            using var allowed = await SendAsync(method, path, _bobAppToken);
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{method} {path}");
        }
        using (var blob = await SendAsync(HttpMethod.Get, $"/v2/team/app/blobs/{_appLayer}", _bobAppToken))
            Assert.That(Digest.Compute(await blob.Content.ReadAsByteArrayAsync()), Is.EqualTo(_appLayer));

        var refused = ImageReads("team/secret", _secretV1, _secretLayer).Select(r => (r.Method, r.Path, Body: (byte[]?)null))
            .Append((HttpMethod.Get, DeltaQuery("team/secret", _secretV1), null))
            .Append((HttpMethod.Post, SignatureQuery("team/secret"), SignatureOf(_secretV1Bytes)));
        foreach (var (method, path, body) in refused)
        {
            using var response = await SendAsync(method, path, _bobAppToken, body);
            Assert.That(response.StatusCode, Is.AnyOf(HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden), $"{method} {path}");
            if (method == HttpMethod.Head) continue;
            var text = await response.Content.ReadAsStringAsync();
            Assert.That(text, Does.Contain("the registry refused to show").And.Contain("team/secret"), path);
            Assert.That(text, Does.Not.Contain(_secretV2.Digest.ToString()), $"{path} must not reveal what v2 is");
            Assert.That(text, Does.Not.Contain("authentication required"), $"{path}: the registry's raw JSON is not passed on");
        }
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(buildsBefore), "no delta is built for an image the caller may not read");

        // The delta of the repository bob may read is built with the server's credentials; waited for until ready, so
        // no build of this test is still starting while another test of the fixture counts builds.
        var (ready, _) = await DeltaRequests.ReadyAsync(_server.Http, DeltaQuery("team/app", _appV1), request => request.Headers.Authorization = _bobAppToken);
        Assert.That(ready, Does.Contain("\"delta_image\""));
    }

    [Test]
    public async Task A_wrong_password_is_refused_by_the_registry_not_the_server()
    {
        var wrong = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("bob:wrong"u8.ToArray()));
        using var response = await SendAsync(HttpMethod.Get, "/v2/team/app/tags/list", wrong);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.Single().Parameter, Does.Contain("scope=\"repository:team/app:pull\""));
    }

    [Test]
    public void Skopeo_follows_the_servers_challenge_to_the_token_server_and_reads_only_what_its_user_may()
    {
        var server = _server.Url.Authority;
        var (code, output) = ExternalTool.Run("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "bob:b0b-pass", $"docker://{server}/team/app:v1");
        Assert.That(code, Is.Zero, output);
        Assert.That(Digest.Compute(System.Text.Encoding.UTF8.GetBytes(output)), Is.EqualTo(_appV1.Digest), "skopeo read the exact manifest through the server");

        (code, output) = ExternalTool.Run("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "bob:b0b-pass", $"docker://{server}/team/secret:v1");
        Assert.That(code, Is.Not.Zero);
        Assert.That(output, Does.Contain("unauthorized").IgnoreCase.Or.Contain("denied").IgnoreCase.Or.Contain("401"));

        (code, output) = ExternalTool.Run("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{server}/team/app:v1");
        Assert.That(code, Is.Not.Zero, "anonymous skopeo must be refused");
    }

    [Test]
    public void A_device_without_authorization_is_told_the_servers_reason_in_one_line()
    {
        using var dir = new TempDirectory();
        var (code, output) = ExternalTool.Run(Binaries.Doras, ["pull", "team/app:v1", "--allow-http", "--server", _server.Url.ToString(), "--output", dir["device"]]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Unauthorized), output);
        var error = output.Split('\n').Single(l => l.StartsWith("doras: ") && l.Contains("401"));
        Assert.That(error, Does.Contain("Registry:RequireClientAuth").And.Not.Contain("{"));
    }
}

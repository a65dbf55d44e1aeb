using System.Net.Http.Headers;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.ClientApi;

/// <summary>
/// How the edge client reaches the delta server (the Go client's allowHttp and token provider): plain HTTP only
/// when allowed, and a token asked for per request and renewed after a 401. Against the real server in registry
/// mode, which requires the client's own registry token, in front of a docker-registry with token auth.
/// </summary>
[NonParallelizable]
public class ServerConnectionTests
{
    private TempDirectory _dir = null!;
    private TokenServer _tokens = null!;
    private RegistryProcess _registry = null!;
    private RunningServer _server = null!;
    private byte[] _v1 = null!, _v2 = null!;
    private string _token = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _dir = new TempDirectory();
        _tokens = await TokenServer.StartAsync(_dir.Path);
        _registry = await RegistryProcess.StartWithTokenAuthAsync(_tokens.Realm, _tokens.CertificatePath);
        var alice = new StaticCredentialProvider(new Dictionary<string, Credential> { [_registry.Host] = new(_tokens.Account.User, _tokens.Account.Password) });
        using var publisher = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = alice });
        _v1 = TestData.Binary(300_000, 11);
        _v2 = TestData.Edit(_v1, 12);
        await Versions.PublishFileAsync(publisher.Repository("team/app"), _dir, "app.bin", _v1, "v1");
        await Versions.PublishFileAsync(publisher.Repository("team/app"), _dir, "app.bin", _v2, "v2");
        _token = (await publisher.ReadAuthorizationAsync("team/app"))!.Parameter!; // a real token from the token server, pull on team/app
        _server = await RunningServer.StartAsync("--registry", _registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", _registry.Host, "--Registry:Credentials:0:Username", "alice", "--Registry:Credentials:0:Password", "s3cret");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        await _registry.DisposeAsync();
        await _tokens.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public void Plain_HTTP_is_refused_unless_allowed_loopback_included()
    {
        var error = Assert.Throws<ArgumentException>(() => new DeltaClient(new Uri("http://127.0.0.1:8080")))!;
        Assert.That(error.Message, Is.EqualTo("the server URL http://127.0.0.1:8080/ is plain HTTP, which carries tokens and update answers unprotected: use https, or allow it explicitly (DeltaClientOptions.AllowHttp, doras --allow-http)"));
        Assert.That(() => new DeltaClient(new Uri("ftp://127.0.0.1/")), Throws.ArgumentException.With.Message.EqualTo("the server URL 'ftp://127.0.0.1/' is not an http(s) URL"));
        using (new DeltaClient(new Uri("https://updates.example/"))) { }
        using (new DeltaClient(new Uri("http://127.0.0.1:8080"), new DeltaClientOptions { AllowHttp = true })) { }

        var (code, output) = CliRun.Run("pull", "team/app:v1", "--server", _server.Url.ToString(), "-o", _dir["refused"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo($"doras: --server {_server.Url} is plain HTTP: pass --allow-http to allow it (a trusted network or loopback only), or use https"));
        Assert.That(Directory.Exists(_dir["refused"]), Is.False, "nothing was touched");
    }

    [Test]
    public async Task The_token_provider_is_asked_per_request_and_again_after_a_401()
    {
        var provider = new CountingTokens(_token, staleFirst: true);
        using var client = LoopbackDeltaClient.Create(_server.Url, tokens: provider);
        var repository = client.Repository("team/app");
        var manifest = await repository.ResolveAsync("v1");
        var twice = await repository.ResolveAsync("v2");
        Assert.That(manifest.MediaType, Is.EqualTo(MediaTypes.ImageManifest));
        Assert.That(twice.Digest, Is.Not.EqualTo(manifest.Digest));
        Assert.That(provider.Calls, Is.EqualTo(new[] { false, true, false }), "asked for the first request, renewed after its 401, asked again for the next");

        var request = new DeltaRequest(Reference.Parse($"team/app@{manifest.Digest}"), Reference.Parse("team/app:v2"), ["zstd"]);
        var ready = await client.ReadDeltaAsync(request);
        Assert.That(ready.Status, Is.EqualTo(Doras.Api.DeltaStatus.Ready));
        Assert.That(ready.ToImage, Does.EndWith($"team/app@{twice.Digest}"));

        // The Go client's ReadDeltaAsStream: the delta's layer and a stream verified against its digest as it is read.
        await using var download = (await client.ReadDeltaAsStreamAsync(request))!;
        var bytes = new MemoryStream();
        await download.Content.CopyToAsync(bytes);
        Assert.That(bytes.Length, Is.EqualTo(download.Layer.Size));
        Assert.That(Digest.Compute(bytes.ToArray()), Is.EqualTo(download.Layer.Digest));
        Assert.That(provider.Calls.Skip(3), Is.All.False, "the token was accepted: never renewed again");
    }

    [Test]
    public async Task A_request_with_its_own_authorization_keeps_it()
    {
        var provider = new CountingTokens("not-this-one", staleFirst: false);
        using var client = LoopbackDeltaClient.Create(_server.Url, tokens: provider);
        var request = new DeltaRequest(Reference.Parse($"team/app@{Digest.Compute(_v1)}"), Reference.Parse("team/app:v2"), ["zstd"],
            new AuthenticationHeaderValue("Bearer", _token));
        var error = (await Assert.ThrowsAsync<DeltaServerException>(() => client.PollDeltaAsync(request)))!;
        Assert.That(error.Status, Is.EqualTo(System.Net.HttpStatusCode.NotFound), "read with the request's token: the from image (a content digest) is no manifest");
        Assert.That(provider.Calls, Is.Empty);
    }

    [Test]
    public void The_cli_takes_the_token_from_a_command_renewing_it_after_a_401()
    {
        // The command's first answer is a stale token; every later one the real token.
        var count = _dir["command-runs"];
        File.WriteAllText(_dir["token"], _token);
        var command = $"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}; if [ \"$n\" = 0 ]; then echo stale-token; else cat {_dir["token"]}; fi";
        var output = CliRun.Ok("pull", "team/app:v1", "--allow-http", "--server", _server.Url.ToString(), "-o", _dir["device"], "--token-command", command);
        Assert.That(output, Does.Contain("full download"));
        Assert.That(File.ReadAllBytes(_dir["device/app.bin"]), Is.EqualTo(_v1));
        Assert.That(File.ReadAllText(count).Trim(), Is.EqualTo("2"), "run once, and once more after the server's 401; the renewed token was kept");

        output = CliRun.Ok("pull", "team/app:v2", "--allow-http", "--server", _server.Url.ToString(), "-o", _dir["device"], "--token-command", command);
        Assert.That(output, Does.Contain("delta update"));
        Assert.That(File.ReadAllBytes(_dir["device/app.bin"]), Is.EqualTo(_v2));
        Assert.That(File.ReadAllText(count).Trim(), Is.EqualTo("3"));
    }

    [Test]
    public async Task A_token_command_that_prints_too_much_is_stopped_and_a_chatty_one_still_gives_its_token()
    {
        // 200 KiB of diagnostics (over a pipe's buffer) before the token: drained, not a blocked command.
        var chatty = new CommandTokenProvider($"head -c 204800 /dev/zero >&2; cat {_dir["token"]}");
        File.WriteAllText(_dir["token"], "abc123\n");
        var authorization = await chatty.GetAuthorizationAsync(renew: false, CancellationToken.None);
        Assert.That(authorization?.ToString(), Is.EqualTo("Bearer abc123"));

        // A command that never stops printing is stopped at the limit, with that reason (not a 30 s timeout).
        var endless = new CommandTokenProvider("yes");
        var error = (await Assert.ThrowsAsync<UnauthorizedAccessException>(() => endless.GetAuthorizationAsync(renew: false, CancellationToken.None).AsTask()))!;
        Assert.That(error.Message, Is.EqualTo("the token command 'yes' printed over 65536 bytes; a token is one line"));

        // A failing command's reason is quoted from the start of its standard error, however much it wrote.
        var failing = new CommandTokenProvider("echo 'identity service unreachable' >&2; head -c 204800 /dev/zero | tr '\\0' x >&2; exit 3");
        error = (await Assert.ThrowsAsync<UnauthorizedAccessException>(() => failing.GetAuthorizationAsync(renew: false, CancellationToken.None).AsTask()))!;
        Assert.That(error.Message, Does.StartWith("the token command '").And.Contain("' exited 3: identity service unreachable\nxxxx"));
        Assert.That(error.Message.Length, Is.LessThan(4096 + 300));
    }

    [Test]
    public void The_cli_reads_the_token_from_a_file_and_a_stale_one_is_refused_with_the_servers_reason()
    {
        File.WriteAllText(_dir["token-file"], _token + "\n");
        CliRun.Ok("pull", "team/app:v1", "--allow-http", "--server", _server.Url.ToString(), "-o", _dir["file-device"], "--token-file", _dir["token-file"]);
        Assert.That(File.ReadAllBytes(_dir["file-device/app.bin"]), Is.EqualTo(_v1));

        File.WriteAllText(_dir["stale-file"], "Bearer stale");
        var (code, output) = CliRun.Run("pull", "team/app:v1", "--allow-http", "--server", _server.Url.ToString(), "-o", _dir["stale-device"], "--token-file", _dir["stale-file"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Unauthorized), output);
        Assert.That(output, Does.Contain("401"));

        (code, output) = CliRun.Run("pull", "team/app:v1", "--allow-http", "--server", _server.Url.ToString(), "-o", _dir["both"], "--token-file", _dir["token-file"], "--token-command", "true");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo("doras: give one of --token-command and --token-file, not both (got 'true' and a file)"));
    }

    /// <summary>A provider that records each call's renew flag; the first answer is stale when asked to be.</summary>
    private sealed class CountingTokens(string token, bool staleFirst) : IServerTokenProvider
    {
        public List<bool> Calls { get; } = [];

        public ValueTask<AuthenticationHeaderValue?> GetAuthorizationAsync(bool renew, CancellationToken ct)
        {
            lock (Calls) Calls.Add(renew);
            var value = staleFirst && Calls.Count == 1 ? "stale" : token;
            return ValueTask.FromResult<AuthenticationHeaderValue?>(new AuthenticationHeaderValue("Bearer", value));
        }
    }
}

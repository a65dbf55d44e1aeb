using System.Net;
using Doras.Server.Collection;

namespace Doras.Tests.Registry;

/// <summary>Registry-mode settings that cannot work with the registry behind them: the operator is told what failed and what to set.</summary>
public class RegistrySettingsTests
{
    [Test, CancelAfter(60_000)]
    public async Task Readiness_and_gc_name_the_failed_TLS_handshake_and_the_setting(CancellationToken ct)
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:RequireClientAuth", "false");

        using var ready = await server.Http.GetAsync("/readyz", ct);
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await ready.Content.ReadAsStringAsync(ct),
            Does.Contain($"registry: the TLS handshake with the registry {registry.Host} failed; if it speaks plain HTTP, set Registry:PlainHttp=true (a trusted network only)"));

        var report = await server.Service<GarbageCollector>().RunAsync(dryRun: true, ct);
        Assert.That(report.Errors, Has.Count.EqualTo(1));
        Assert.That(report.Errors[0], Does.StartWith("the TLS handshake with the registry failed (").And.EndWith("); if it speaks plain HTTP, set Registry:PlainHttp=true"));
    }

    [Test, CancelAfter(60_000)]
    public async Task A_registry_that_asks_no_login_with_RequireClientAuth_on_is_named_as_the_reason_devices_are_refused(CancellationToken ct)
    {
        await using var registry = await RegistryProcess.StartAsync(); // anyone may read
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true");
        var expected = $"the registry {registry.Host} asks no login (GET /v2/ answered without a challenge), so with Registry:RequireClientAuth on no device can authenticate and none gets a delta: " +
                       "set Registry:RequireClientAuth=false (anyone who reaches this server then reads what it serves: a trusted network or an authenticating proxy)";

        using var refused = await server.Http.GetAsync($"/api/v1/delta?from_digest={Uri.EscapeDataString("fleet/app@sha256:" + new string('a', 64))}&to_tag=fleet%2Fapp%3Av2", ct);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using (var problem = System.Text.Json.JsonDocument.Parse(await refused.Content.ReadAsStringAsync(ct)))
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo(expected));

        using var ready = await server.Http.GetAsync("/readyz", ct);
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await ready.Content.ReadAsStringAsync(ct), Does.Contain("client-auth: " + expected));
    }

    [Test, CancelAfter(60_000)]
    public async Task Pulling_from_a_registry_without_credentials_names_the_reference_and_what_to_give()
    {
        using var registryDir = new TempDirectory();
        await using var registry = await RegistryProcess.StartWithBasicAuthAsync("alice", "s3cret");
        var (code, output) = ExternalTool.Run(Binaries.Doras, ["pull", $"{registry.Host}/fleet/app:v1", "--plain-http", "--allow-http", "--server", "http://127.0.0.1:9",
            "--docker-config", registryDir["none.json"], "-o", registryDir["device"]]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Unauthorized), output);
        Assert.That(output, Does.Contain($"doras: {registry.Host}/fleet/app:v1: the registry {registry.Host} did not let this device read it (401 Unauthorized")
            .And.Contain("give its credentials (-u/-p, or the Docker config)").And.Not.Contain("tags of"));
    }

    [Test, CancelAfter(60_000)]
    public async Task Many_anonymous_callers_at_once_make_the_server_ask_the_registry_for_its_challenge_once(CancellationToken ct)
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        await using var recorder = await LoopbackProxy.StartAsync(registry.Url, record: true);
        await using var server = await RunningServer.StartAsync("--registry", recorder.Host, "--Registry:PlainHttp", "true");

        // 40 callers without credentials, each hanging up at once or waiting: every one gets the registry's challenge.
        var asks = Enumerable.Range(0, 40).Select(async i =>
        {
            using var response = await server.Http.GetAsync($"/v2/team/app{i}/tags/list", ct);
            return (response.StatusCode, response.Headers.WwwAuthenticate.Single().Scheme);
        });
        var answers = await Task.WhenAll(asks);
        Assert.That(answers.Select(a => a.StatusCode), Is.All.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(answers.Select(a => a.Scheme), Is.All.EqualTo("Bearer"));
        lock (recorder.Requests)
            Assert.That(recorder.Requests.Count(r => r.Path == "/v2/"), Is.EqualTo(1), "one probe, remembered");
    }
}

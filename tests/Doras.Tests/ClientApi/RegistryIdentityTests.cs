using Doras.EdgeClient.Deltas;
using Doras.Oci.Remote;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.ClientApi;

/// <summary>
/// What a registry learns about its caller (metadata headers, the real version in the User-Agent) and what the
/// caller learns about the registry (its API version, or that it is not one), against a real docker-registry.
/// </summary>
public class RegistryIdentityTests
{
    [Test]
    public async Task Every_registry_request_carries_the_configured_headers_and_the_real_version()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var proxy = await LoopbackProxy.StartAsync(registry.Url, record: true);
        using var dir = new TempDirectory();
        File.WriteAllText(dir["config.json"], """{"HttpHeaders":{"X-Meta-Site":"plant-3","X-Meta-Device":"from-config"}}""");
        string[] options = ["--plain-http", "--docker-config", dir["config.json"], "--header", "X-Meta-Device: edge-7", "-H", "X-Meta-Fleet: north"];
        var content = TestData.Binary(300_000, 1);

        var version = CliRun.Ok("--version").Trim();
        Assert.That(version, Does.StartWith("0.2.0+"), "the one version of every assembly and the package (Directory.Build.props)");
        CliRun.Ok(["push", dir.Write("v1/app.bin", content), $"{proxy.Host}/fleet/app:1", .. options]);
        Assert.That(CliRun.Ok(["tags", $"{proxy.Host}/fleet/app", .. options]).Trim(), Is.EqualTo("1"));
        CliRun.Ok(["download", $"{proxy.Host}/fleet/app:1", "-o", dir["dl"], .. options]);
        Assert.That(File.ReadAllBytes(dir["dl/app.bin"]), Is.EqualTo(content));

        Assert.That(proxy.Requests.Select(r => r.Method).Distinct(), Is.SupersetOf(new[] { "GET", "HEAD", "POST", "PUT" }), "uploads, checks and downloads all went through the proxy");
        foreach (var (method, path, headers) in proxy.Requests)
        {
            var what = $"{method} {path}";
            Assert.That(headers["user-agent"], Is.EqualTo($"doras-dotnet/{version}"), what);
            Assert.That(headers["x-meta-site"], Is.EqualTo("plant-3"), what);
            Assert.That(headers["x-meta-device"], Is.EqualTo("edge-7"), $"{what}: the command line wins over the config");
            Assert.That(headers["x-meta-fleet"], Is.EqualTo("north"), what);
        }
    }

    [Test]
    public async Task The_device_sends_the_headers_to_the_delta_server_too()
    {
        await using var server = await RunningServer.StartAsync();
        await using var proxy = await LoopbackProxy.StartAsync(server.Url, record: true);
        using var dir = new TempDirectory();
        var content = TestData.Binary(200_000, 2);
        CliRun.Ok("push", dir.Write("v1/app.bin", content), "fleet/app:1", "--store", server.StorePath);

        CliRun.Ok("pull", "fleet/app:1", "--allow-http", "--server", proxy.Url.ToString(), "-o", dir["device"], "--docker-config", dir["none.json"], "-H", "X-Meta-Device: edge-9");
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(content));
        Assert.That(proxy.Requests, Is.Not.Empty);
        foreach (var (method, path, headers) in proxy.Requests)
        {
            Assert.That(headers["x-meta-device"], Is.EqualTo("edge-9"), $"{method} {path}");
            Assert.That(headers["user-agent"], Is.EqualTo(ClientIdentity.UserAgent), $"{method} {path}");
        }
    }

    [Test]
    public void A_header_doras_sets_itself_or_a_malformed_one_is_refused_before_any_request()
    {
        var (code, output) = CliRun.Run("tags", "127.0.0.1:9/fleet/app", "--plain-http", "-H", "Authorization: Bearer stolen");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo("doras: header 'Authorization' is set by doras itself and cannot be given"));

        (code, output) = CliRun.Run("tags", "127.0.0.1:9/fleet/app", "--plain-http", "-H", "X-Meta-Name value");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo("doras: header 'X-Meta-Name value' is not 'Name: value'"));

        Assert.That(() => RequestHeaders.Parse("X Meta: v"), Throws.TypeOf<FormatException>().With.Message.EqualTo("header name 'X Meta' is not a valid HTTP header name"));
        Assert.That(() => RequestHeaders.Parse("X-Meta-Site: Zürich"), Throws.TypeOf<FormatException>().With.Message.EqualTo(
            "the value of header 'X-Meta-Site' has a character that is not printable ASCII: encode it (e.g. percent-encoding)"));
        Assert.That(() => RequestHeaders.Parse("X-Meta-Site: a\u0001b"), Throws.TypeOf<FormatException>());
        Assert.That(RequestHeaders.Parse("X-Meta-Site: Z%C3%BCrich\t1").Value, Is.EqualTo("Z%C3%BCrich\t1"));
    }

    [Test]
    public async Task GetVersionAsync_reads_the_registry_API_version_of_a_registry_and_of_the_doras_server()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        Assert.That(await client.GetVersionAsync(), Is.EqualTo("registry/2.0"));

        await using var server = await RunningServer.StartAsync();
        using var viaServer = new RegistryClient(server.Url.Authority, new RegistryClientOptions { PlainHttp = true });
        Assert.That(await viaServer.GetVersionAsync(), Is.EqualTo("registry/2.0"));
    }

    [Test]
    public async Task A_TLS_failure_names_its_reason_and_the_plain_http_flags()
    {
        await using var plain = await LoopbackApp.StartAsync("/{**path}", context => context.Response.WriteAsync("plain"));
        var host = new Uri(plain.Urls.First()).Authority;
        var (code, output) = CliRun.Run("tags", $"{host}/fleet/app");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Network), output);
        Assert.That(output, Does.StartWith("doras: The SSL connection could not be established: "));
        Assert.That(output, Does.Not.Contain("see inner exception"));
        Assert.That(output.TrimEnd(), Does.EndWith("(if the registry or server speaks plain HTTP, pass --plain-http for the registry, or an http:// --server URL with --allow-http)"));
    }

    [Test]
    public async Task GetVersionAsync_and_catalog_say_clearly_when_a_host_is_not_a_v2_registry()
    {
        // An ordinary web server: a page for every path, or nothing at /v2/.
        await using var website = await LoopbackApp.StartAsync("/{**path}", context => context.Response.WriteAsync("<html>welcome</html>"));
        await using var nothing = await LoopbackApp.StartAsync("/elsewhere", context => context.Response.WriteAsync("hi"));
        var websiteHost = new Uri(website.Urls.First()).Authority;
        var nothingHost = new Uri(nothing.Urls.First()).Authority;

        using var client = new RegistryClient(websiteHost, new RegistryClientOptions { PlainHttp = true });
        var error = (await Assert.ThrowsAsync<NotARegistryException>(() => client.GetVersionAsync()))!;
        Assert.That(error.Message, Is.EqualTo($"{websiteHost} is not an OCI (v2) registry: GET http://{websiteHost}/v2/ answered 200 OK without a Docker-Distribution-API-Version header"));

        using var other = new RegistryClient(nothingHost, new RegistryClientOptions { PlainHttp = true });
        error = (await Assert.ThrowsAsync<NotARegistryException>(() => other.GetVersionAsync()))!;
        Assert.That(error.Message, Is.EqualTo($"{nothingHost} is not an OCI (v2) registry: GET http://{nothingHost}/v2/ answered 404 Not Found without a Docker-Distribution-API-Version header"));

        var (code, output) = CliRun.Run("catalog", nothingHost, "--plain-http");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo($"doras: {error.Message}"));

        using var device = new TempDirectory();
        // push to either host: the same usage error, before anything is packed, not a web page dumped (exit 3).
        foreach (var host in new[] { nothingHost, websiteHost })
        {
            (code, output) = CliRun.Run("push", device.Write($"push-{host.Replace(':', '-')}/app.bin", [1, 2, 3]), $"{host}/fleet/app:v1", "--plain-http");
            Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
            Assert.That(output, Does.Contain($"doras: {host} is not an OCI (v2) registry"));
        }

        // tags from either host: the same usage error, not an empty success.
        foreach (var host in new[] { nothingHost, websiteHost })
        {
            (code, output) = CliRun.Run("tags", $"{host}/fleet/app", "--plain-http");
            Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
            Assert.That(output, Does.Contain($"doras: {host} is not an OCI (v2) registry"));
        }

        // pull from either host: the same usage error (exit 2), not "not found" (8) or a JSON parse error (1).
        foreach (var host in new[] { nothingHost, websiteHost })
        {
            (code, output) = CliRun.Run("pull", $"{host}/fleet/app:v1", "--plain-http", "--allow-http", "--server", "http://127.0.0.1:9", "--output", device["app"]);
            Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
            Assert.That(output, Does.Contain($"doras: {host} is not an OCI (v2) registry: GET http://{host}/v2/ answered "));
        }
    }
}

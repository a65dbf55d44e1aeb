using System.Net;
using System.Text.Json;
using Doras.Oci.Remote;

namespace Doras.Tests.Registry;

/// <summary>A registry that rate-limits the server: the device hears 503 problem+json with Retry-After, not a generic 500.</summary>
public class RegistryBusyTests
{
    [Test, CancelAfter(120_000)]
    public async Task A_429_on_a_tag_lookup_is_answered_503_with_Retry_After(CancellationToken ct)
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var limiter = await LoopbackProxy.StartAsync(registry.Url, faultsOn: path => path.EndsWith("/manifests/v2", StringComparison.Ordinal));
        await using var server = await RunningServer.StartAsync("--registry", limiter.Url.Authority, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(50_000, 3);
        var from = await Versions.PublishFileAsync(publisher.Repository("fleet/app"), dir, "app.bin", v1, "v1");
        await Versions.PublishFileAsync(publisher.Repository("fleet/app"), dir, "app.bin", TestData.Edit(v1, 4), "v2");

        limiter.Script(Enumerable.Repeat(Fault.TooManyRequests, 50).ToArray()); // more than the registry client's retries
        using var response = await server.Http.GetAsync(DeltaRequests.Query("fleet/app", from, "v2"), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(30)));
        using var problem = JsonDocument.Parse(body);
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo("the registry is rate-limiting this server (429); ask again later"));
        Assert.That(limiter.FaultsInjected, Is.GreaterThan(0));
    }
}

using System.Net;
using Doras.Server.Collection;

namespace Doras.Tests.Registry;

/// <summary>Registry mode in front of a plain-HTTP registry without Registry:PlainHttp: the operator is told TLS failed and what to set.</summary>
public class PlainHttpRegistryTests
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
}

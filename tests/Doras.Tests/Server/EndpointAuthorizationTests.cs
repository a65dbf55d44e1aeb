using System.Text.Json;
using Doras.Server.Authorization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Doras.Tests.Server;

/// <summary>
/// Every endpoint the server maps says who may call it: an authorization policy of one caller scheme, or an explicit
/// anonymous (the probes only). A new endpoint that forgets fails here, not in production.
/// </summary>
public class EndpointAuthorizationTests
{
    private static readonly string[] Anonymous = ["/healthz", "/readyz"];

    [Test]
    public async Task Every_mapped_endpoint_declares_a_caller_policy_or_is_one_of_the_anonymous_probes()
    {
        await using var server = await RunningServer.StartAsync();
        var endpoints = server.Service<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        Assert.That(endpoints, Has.Count.GreaterThan(15));
        var known = new HashSet<string>(
            [CallerPolicies.DeviceClient, CallerPolicies.Operator, CallerPolicies.RegistryWebhook, CallerPolicies.PeerCredentials,
             .. Doras.Server.Peering.PeerScopes.All.Select(CallerPolicies.Peer)]);
        foreach (var endpoint in endpoints)
        {
            var name = $"{string.Join(',', endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])} {endpoint.RoutePattern.RawText}";
            var policies = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).ToList();
            if (endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
            {
                Assert.That(Anonymous, Does.Contain(endpoint.RoutePattern.RawText), $"{name} is anonymous");
                continue;
            }
            // Exactly one policy: two would be ANDed into a policy of two schemes, which no caller satisfies as intended.
            Assert.That(policies, Has.Count.EqualTo(1), name);
            Assert.That(known, Does.Contain(policies[0]), name);
        }
        Assert.That(endpoints.Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is not null).Select(e => e.RoutePattern.RawText), Is.EquivalentTo(Anonymous));
    }

    [Test]
    public async Task The_API_document_names_the_caller_of_every_operation_but_the_probes()
    {
        await using var server = await RunningServer.StartAsync();
        using var document = JsonDocument.Parse(await server.Http.GetStringAsync("/openapi/v1.json"));
        var root = document.RootElement;
        Assert.That(root.GetProperty("components").GetProperty("securitySchemes").EnumerateObject().Select(s => s.Name),
            Is.EquivalentTo(new[] { CallerSchemes.DeviceClient, CallerSchemes.Operator, CallerSchemes.RegistryWebhook, CallerSchemes.PeerCredentials, CallerSchemes.Peer }));
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        foreach (var operation in path.Value.EnumerateObject())
        {
            var secured = operation.Value.TryGetProperty("security", out var security) && security.GetArrayLength() == 1;
            Assert.That(secured, Is.EqualTo(!Anonymous.Contains(path.Name)), $"{operation.Name} {path.Name}");
        }
        var delta = root.GetProperty("paths").GetProperty("/api/v1/delta").GetProperty("get").GetProperty("security")[0];
        Assert.That(delta.EnumerateObject().Single().Name, Is.EqualTo(CallerSchemes.DeviceClient));
    }
}

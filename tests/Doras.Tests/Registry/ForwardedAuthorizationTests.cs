using System.Net.Http.Headers;
using Doras.Oci.Remote;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Registry;

/// <summary>A client's authorization, forwarded by the server acting for it, goes to the client's registry and nowhere else.</summary>
public class ForwardedAuthorizationTests
{
    [Test]
    public async Task A_pagination_link_to_another_host_does_not_get_the_forwarded_token()
    {
        string? seenElsewhere = "not asked";
        await using var elsewhere = await LoopbackApp.StartAsync("/{**path}", context =>
        {
            seenElsewhere = context.Request.Headers.Authorization.ToString();
            return context.Response.WriteAsJsonAsync(new { name = "fleet/app", tags = new[] { "v2" } });
        });
        string? seenAtRegistry = null;
        await using var registry = await LoopbackApp.StartAsync("/v2/fleet/app/tags/list", context =>
        {
            seenAtRegistry = context.Request.Headers.Authorization.ToString();
            context.Response.Headers.Link = $"<{elsewhere.Urls.First()}/v2/fleet/app/tags/list?last=v1>; rel=\"next\"";
            return context.Response.WriteAsJsonAsync(new { name = "fleet/app", tags = new[] { "v1" } });
        });

        var host = new Uri(registry.Urls.First()).Authority;
        using var client = new RegistryClient(host, new RegistryClientOptions { PlainHttp = true, ForwardedAuthorization = new AuthenticationHeaderValue("Bearer", "device-token") });
        var tags = new List<string>();
        await foreach (var tag in client.Repository("fleet/app").ListTagsAsync()) tags.Add(tag);

        Assert.That(tags, Is.EqualTo(new[] { "v1", "v2" }));
        Assert.That(seenAtRegistry, Is.EqualTo("Bearer device-token"));
        Assert.That(seenElsewhere, Is.Empty, "the other host got no Authorization header");
    }

    [Test]
    public async Task A_cookie_the_registry_gave_one_caller_is_not_sent_with_another_callers_requests_over_the_shared_pool()
    {
        var cookies = new List<string>();
        await using var registry = await LoopbackApp.StartAsync("/v2/fleet/app/tags/list", context =>
        {
            cookies.Add(context.Request.Headers.Cookie.ToString());
            context.Response.Headers.SetCookie = "session=" + context.Request.Headers.Authorization.ToString().Replace(' ', '-') + "; Path=/";
            return context.Response.WriteAsJsonAsync(new { name = "fleet/app", tags = new[] { "v1" } });
        });
        var host = new Uri(registry.Urls.First()).Authority;
        using var pool = RegistryClient.CreateTransport(); // as the server shares one between the clients of all callers
        foreach (var caller in new[] { "device-a", "device-b", "device-a" })
        {
            using var client = new RegistryClient(host, new RegistryClientOptions { PlainHttp = true, ForwardedAuthorization = new AuthenticationHeaderValue("Bearer", caller) }, pool);
            await foreach (var _ in client.Repository("fleet/app").ListTagsAsync()) { }
        }

        Assert.That(cookies, Is.EqualTo(new[] { "", "", "" }), "no request carried a cookie the registry set for an earlier one");
    }
}

using System.Net;
using System.Text.Json;
using Doras.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Server;

/// <summary>
/// An endpoint that forgets to declare a caller policy is refused, not open (the authorization fallback policy),
/// while the probes, the operator's endpoints, the device API and unknown paths answer as before.
/// </summary>
public class FallbackPolicyTests
{
    [Test]
    public async Task An_endpoint_without_a_policy_is_refused_and_the_declared_ones_answer_as_before()
    {
        using var dir = new TempDirectory();
        // The real server, with one endpoint added the way a change could forget its policy.
        await using var app = DorasServer.Build(["--urls", "http://127.0.0.1:0", "--store", dir["store"], "--log-level", "Warning"]);
        app.MapGet("/forgotten", () => "open to anyone");
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        using (var forgotten = await http.GetAsync("/forgotten"))
        {
            Assert.That(forgotten.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(forgotten.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            using var problem = JsonDocument.Parse(await forgotten.Content.ReadAsStringAsync());
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("declares no caller policy"));
        }
        foreach (var open in new[] { "/healthz", "/readyz", "/metrics", "/openapi/v1.json", "/v2/" })
        {
            using var answer = await http.GetAsync(open);
            Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK), open);
        }
        using (var unknown = await http.GetAsync("/no-such-path"))
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "no endpoint: nothing to guard, still 404");
        using (var wrongMethod = await http.PostAsync("/healthz", null))
            Assert.That(wrongMethod.StatusCode, Is.EqualTo(HttpStatusCode.MethodNotAllowed), "routing's own answer, as before");
        await app.StopAsync();
    }
}

using System.Net;
using System.Text;
using System.Text.Json;
using Doras.Api;
using Doras.Delta.Vocabulary;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Endpoints;

namespace Doras.Tests.Server;

/// <summary>
/// Deltas built when a version is published, before any device asks: through the real registry's webhook to a real
/// server process, and by the embedded store's watcher; and the webhook's refusals.
/// </summary>
public class PrecomputeTests
{
    private const string Secret = "webhook-secret-for-tests";

    [Test]
    public async Task A_push_announced_by_the_registry_webhook_is_answered_200_at_the_first_device_request()
    {
        var port = ServerProcess.FreePort();
        await using var registry = await RegistryProcess.StartWithNotificationsAsync($"http://127.0.0.1:{port}{RegistryWebhookEndpoints.Path}", $"Bearer {Secret}");
        await using var server = await ServerProcess.StartAsync(port, "--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Precompute:WebhookSecret", Secret);
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repository = publisher.Repository("fleet/app");
        using var dir = new TempDirectory();

        var v1 = TestData.Binary(300_000, 1);
        var from = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1");
        Assert.That(await server.WaitForLogAsync($"fleet/app@{from.Digest} was pushed", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', server.Lines));
        var to = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v1, 2), "v2");
        Assert.That(await server.WaitForLogAsync($"fleet/app@{to.Digest} was pushed", TimeSpan.FromSeconds(60)), Is.True, string.Join('\n', server.Lines));
        Assert.That(await server.WaitForLogAsync("Built delta", TimeSpan.FromSeconds(120)), Is.True, string.Join('\n', server.Lines));

        // The device asks as the edge client does by default, once: the delta is there.
        var client = LoopbackDeltaClient.Create(server.Url);
        var poll = await client.PollDeltaAsync(new DeltaRequest(
            Reference.Parse($"{registry.Host}/fleet/app@{from.Digest}"), Reference.Parse($"{registry.Host}/fleet/app:v2"), DeltaRequest.DefaultAlgorithms));
        Assert.That(poll.Response.Status, Is.EqualTo(DeltaStatus.Ready));
        Assert.That(poll.Response.ToImage, Is.EqualTo($"{registry.Host}/fleet/app@{to.Digest}"));
        var delta = await repository.FetchManifestAsync(await repository.ResolveAsync(Reference.Parse(poll.Response.DeltaImage!).Identifier));
        Assert.That(delta.Annotation(DorasAnnotations.DeltaFrom), Is.EqualTo($"{registry.Host}/fleet/app@{from.Digest}"));
        Assert.That(server.Count("Building delta"), Is.EqualTo(1), "one build, before the request; v1 had no earlier version");
        Assert.That(server.Count("Precomputing delta"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_version_pushed_to_the_embedded_store_is_noticed_and_its_delta_built()
    {
        await using var server = await RunningServer.StartAsync("--Precompute:PollInterval", "00:00:00.2", "--log-level", "Information");
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(100_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        // Versions created in the same second count as earlier than each other (creation times have whole seconds), so
        // the watcher would also build v2 -> v1: v2 is published in a later second.
        await Versions.NextSecondAsync();
        var to = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        var builder = server.Builder;
        await Eventually.UntilAsync(() => builder.BuildsStarted > 0, TimeSpan.FromSeconds(60), "the watcher starts a build");

        var client = LoopbackDeltaClient.Create(server.Url);
        var request = new DeltaRequest(Reference.Parse(Versions.Ref("fleet/app", from)), Reference.Parse("fleet/app:v2"), DeltaRequest.DefaultAlgorithms);
        var response = await client.WaitForDeltaAsync(request, TimeSpan.FromMinutes(2));
        Assert.That(response.Status, Is.EqualTo(DeltaStatus.Ready));
        Assert.That(response.ToImage, Is.EqualTo(Versions.Ref("fleet/app", to)));
        Assert.That(builder.BuildsStarted, Is.EqualTo(1), "built by the watcher; the request found it");
    }

    [Test, CancelAfter(300_000)]
    public async Task A_container_image_pushed_by_buildah_gets_its_image_delta_from_the_previous_build_before_any_device_asks()
    {
        var port = ServerProcess.FreePort();
        await using var registry = await RegistryProcess.StartWithNotificationsAsync($"http://127.0.0.1:{port}{RegistryWebhookEndpoints.Path}", $"Bearer {Secret}");
        await using var server = await ServerProcess.StartAsync(port, "--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Precompute:WebhookSecret", Secret);
        using var dir = new TempDirectory();
        var buildah = new Buildah(dir);
        var app = TestData.Binary(1_000_000, 3);
        dir.Write("v1/bin/app", app);
        buildah.Push(buildah.Build("localhost/fleet/container:v1", dir["v1/bin"]), $"docker://{registry.Host}/fleet/container:v1");
        app[500_000] ^= 1;
        dir.Write("v2/bin/app", app);
        await Versions.NextSecondAsync(); // the config's creation time orders the builds
        buildah.Push(buildah.Build("localhost/fleet/container:v2", dir["v2/bin"]), $"docker://{registry.Host}/fleet/container:v2");
        Assert.That(await server.WaitForLogAsync("Built delta", TimeSpan.FromSeconds(120)), Is.True, string.Join('\n', server.Lines));

        using var reader = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repository = reader.Repository("fleet/container");
        var (from, to) = (await repository.ResolveAsync("v1"), await repository.ResolveAsync("v2"));
        var client = LoopbackDeltaClient.Create(server.Url);
        var poll = await client.PollDeltaAsync(new DeltaRequest(Reference.Parse($"{registry.Host}/fleet/container@{from.Digest}"), Reference.Parse($"{registry.Host}/fleet/container:v2"),
            ["image", .. DeltaRequest.DefaultAlgorithms]));
        Assert.That(poll.Response.Status, Is.EqualTo(DeltaStatus.Ready), "built before the device asked");
        Assert.That(poll.Response.Algorithm, Is.EqualTo("image"));
        Assert.That(poll.Response.ToImage, Is.EqualTo($"{registry.Host}/fleet/container@{to.Digest}"));
        Assert.That(poll.Response.DeltaSize, Is.LessThan(poll.Response.FullSize!.Value / 10), "one changed byte in a 1 MB layer");
        var delta = await repository.FetchManifestAsync(await repository.ResolveAsync(Reference.Parse(poll.Response.DeltaImage!).Identifier));
        Assert.That(delta.Annotation(DorasAnnotations.ImageDeltaLayers), Does.StartWith("rebuilt:"));
        Assert.That(server.Count("Building delta"), Is.EqualTo(1), "one build, before the request; v1 had no earlier version");
    }

    private static StringContent Notification(string json) => new(json, Encoding.UTF8, "application/vnd.docker.distribution.events.v1+json");

    private static string PushEvent(string repository, string tag, Digest digest) =>
        $$$"""{"id":"{{{Guid.NewGuid()}}}","action":"push","target":{"mediaType":"{{{MediaTypes.ImageManifest}}}","digest":"{{{digest}}}","size":500,"repository":"{{{repository}}}","tag":"{{{tag}}}"}}""";

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string title, string detail)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("title").GetString(), Is.EqualTo(title));
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo(detail));
    }

    [Test]
    public async Task The_webhook_refuses_notifications_without_the_secret_and_bounds_their_size_and_events()
    {
        await using var server = await RunningServer.StartAsync("--Precompute:WebhookSecret", Secret, "--Precompute:MaxNotificationBytes", "4096", "--Precompute:MaxEventsPerNotification", "2");
        var digest = Digest.Parse("sha256:" + new string('a', 64));
        var one = $$"""{"events":[{{PushEvent("fleet/app", "v1", digest)}}]}""";
        HttpRequestMessage Post(string body, string? authorization)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, RegistryWebhookEndpoints.Path) { Content = Notification(body) };
            if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
            return request;
        }

        using (var anonymous = await server.Http.SendAsync(Post(one, null)))
        {
            await AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized, "Not authorized", "a registry notification must carry 'Authorization: Bearer SECRET' with the server's Precompute:WebhookSecret");
            Assert.That(anonymous.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer realm=\"doras-registry-webhook\""));
        }
        using (var wrong = await server.Http.SendAsync(Post(one, "Bearer not-the-secret")))
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        // Without the secret, whatever the body's type: 401, not the 415 that would tell a stranger what the endpoint takes.
        foreach (var contentType in new[] { null, "text/plain" })
        {
            using var stranger = new HttpRequestMessage(HttpMethod.Post, RegistryWebhookEndpoints.Path) { Content = new StringContent(one) };
            stranger.Content.Headers.ContentType = contentType is null ? null : new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
            if (contentType is not null) stranger.Headers.TryAddWithoutValidation("Authorization", "Bearer not-the-secret");
            using var refused = await server.Http.SendAsync(stranger);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), contentType ?? "no content type");
        }
        using (var plain = new HttpRequestMessage(HttpMethod.Post, RegistryWebhookEndpoints.Path) { Content = new StringContent(one) })
        {
            plain.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
            plain.Headers.TryAddWithoutValidation("Authorization", $"Bearer {Secret}");
            using var unsupported = await server.Http.SendAsync(plain);
            await AssertProblemAsync(unsupported, HttpStatusCode.UnsupportedMediaType, "Unsupported media type",
                "a registry notification is sent as application/vnd.docker.distribution.events.v1+json or application/json, not 'text/plain'");
        }

        var big = $$"""{"events":[],"padding":"{{new string('x', 5000)}}"}""";
        using (var tooBig = await server.Http.SendAsync(Post(big, $"Bearer {Secret}")))
            await AssertProblemAsync(tooBig, HttpStatusCode.RequestEntityTooLarge, "Request too large", "a registry notification may be at most 4096 bytes (Precompute:MaxNotificationBytes)");

        var three = $$"""{"events":[{{PushEvent("fleet/app", "v1", digest)}},{{PushEvent("fleet/app", "v2", digest)}},{{PushEvent("fleet/app", "v3", digest)}}]}""";
        using (var tooMany = await server.Http.SendAsync(Post(three, $"Bearer {Secret}")))
            await AssertProblemAsync(tooMany, HttpStatusCode.RequestEntityTooLarge, "Request too large", "a notification of 3 events; at most 2 are taken at once (Precompute:MaxEventsPerNotification)");

        using (var badName = await server.Http.SendAsync(Post($$"""{"events":[{{PushEvent("Fleet/../app", "v1", digest)}}]}""", $"Bearer {Secret}")))
            await AssertProblemAsync(badName, HttpStatusCode.BadRequest, "Invalid registry notification", "a push event names the repository 'Fleet/../app', which is not a valid repository name");

        using (var accepted = await server.Http.SendAsync(Post(one, $"Bearer {Secret}")))
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
    }

    [Test]
    public async Task Without_a_configured_secret_the_webhook_is_off()
    {
        await using var server = await RunningServer.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, RegistryWebhookEndpoints.Path) { Content = Notification("""{"events":[]}""") };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer ");
        using var response = await server.Http.SendAsync(request);
        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "Not authorized",
            "the registry webhook is off: set Precompute:WebhookSecret and send it from the registry as 'Authorization: Bearer SECRET'");
    }
}

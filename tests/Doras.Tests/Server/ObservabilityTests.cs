using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Api;
using Doras.Server.Deltas;
using Microsoft.Extensions.DependencyInjection;

namespace Doras.Tests.Server;

/// <summary>/metrics, /openapi/v1.json, /healthz, /readyz and request ids, on the real server over real HTTP.</summary>
public class ObservabilityTests
{
    [Test]
    public async Task Metrics_carry_the_Go_originals_series_and_count_requests_builds_and_bytes_saved()
    {
        await using var server = await RunningServer.StartAsync();
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(300_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        var query = DeltaRequests.Query("fleet/app", from, "v2");
        var (json, requests) = await DeltaRequests.ReadyAsync(server.Http, query);
        using (await server.Http.GetAsync(query)) { } // a second ready answer
        using (await server.Http.GetAsync($"{DeltaApi.Path}?from_digest=nonsense")) { } // a 400
        var ready = DeltaRequests.Parse(json);

        var text = await MetricsText.ScrapeAsync(server.Http);
        Assert.That(MetricsText.Value(text, "doras_delta_requests_total"), Is.EqualTo(requests + 2));
        Assert.That(MetricsText.Value(text, "doras_delta_answers_total{status=\"ready\"}"), Is.EqualTo(2));
        Assert.That(MetricsText.Value(text, "doras_delta_answers_total{status=\"400\"}"), Is.EqualTo(1));
        Assert.That(MetricsText.Value(text, "doras_delta_creation_duration_seconds_count{diff_algo=\"zstd\",comp_algo=\"zstd\",success=\"true\"}"), Is.EqualTo(1));
        Assert.That(MetricsText.Value(text, "doras_delta_bytes_saved_total"), Is.EqualTo(2 * (ready.FullSize!.Value - ready.DeltaSize!.Value)));
        Assert.That(MetricsText.Value(text, "http_requests_total{code=\"200\",method=\"GET\",path=\"/api/v1/delta\"}"), Is.EqualTo(2));
        Assert.That(MetricsText.Value(text, "http_requests_total{code=\"400\",method=\"GET\",path=\"/api/v1/delta\"}"), Is.EqualTo(1));
        Assert.That(MetricsText.Value(text, "http_request_duration_seconds_count{code=\"200\",method=\"GET\",path=\"/api/v1/delta\"}"), Is.EqualTo(2));
        Assert.That(MetricsText.Value(text, "doras_delta_builds_waiting"), Is.EqualTo(0));
        Assert.That(MetricsText.Value(text, "doras_delta_builds_running"), Is.EqualTo(0));
        Assert.That(MetricsText.Value(text, "doras_expired_dummies_total"), Is.EqualTo(0));
        // No repository, tag or digest in any series.
        Assert.That(text, Does.Not.Contain("fleet/app").And.Not.Contain(from.Digest.Hex));
    }

    [Test]
    public async Task Queue_depth_and_running_builds_follow_the_build_slots()
    {
        await using var server = await RunningServer.StartAsync("--Delta:MaxConcurrentBuilds", "1");
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(200_000, 3);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 4), "v2");
        var held = server.Service<BuildSlots>().TryTake() ?? throw new InvalidOperationException("no free slot");
        using (var first = await server.Http.GetAsync(DeltaRequests.Query("fleet/app", from, "v2")))
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        var text = await Eventually.UntilAsync(() => MetricsText.ScrapeAsync(server.Http), t => MetricsText.Value(t, "doras_delta_builds_waiting") == 1,
            TimeSpan.FromSeconds(30), "a build waits for the one slot");
        Assert.That(MetricsText.Value(text, "doras_delta_builds_waiting"), Is.EqualTo(1), "the build waits for the one slot");
        Assert.That(MetricsText.Value(text, "doras_delta_builds_running"), Is.EqualTo(1), "the slot this test holds");

        held.Dispose();
        await DeltaRequests.ReadyAsync(server.Http, DeltaRequests.Query("fleet/app", from, "v2"));
        text = await MetricsText.ScrapeAsync(server.Http);
        Assert.That(MetricsText.Value(text, "doras_delta_builds_waiting"), Is.EqualTo(0));
        Assert.That(MetricsText.Value(text, "doras_delta_builds_running"), Is.EqualTo(0));
    }

    [Test]
    public async Task The_OpenAPI_document_describes_every_endpoint_and_the_problem_types_of_its_errors()
    {
        await using var server = await RunningServer.StartAsync();
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = document.RootElement.GetProperty("paths");
        var operations = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject().Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}")).Order().ToList();
        Assert.That(operations, Is.EqualTo(new[]
        {
            "GET /api/v1/delta", "GET /healthz", "GET /metrics", "GET /readyz", "GET /v2", "GET /v2/{path}", "HEAD /v2/{path}", "POST /api/v1/delta/from-signature",
            "POST /api/v1/registry-events",
            // The peer API: servers peering with this one (README: Peering and site replicas).
            "POST /peer/v1/token", "POST /peer/v1/subleases", "POST /peer/v1/replicas", "GET /peer/v1/configuration", "POST /peer/v1/sync",
            "GET /peer/v1/delta", "POST /peer/v1/pull-delegation/manifest", "POST /peer/v1/pull-delegation/blob",
            "GET /peer/v1/v2", "GET /peer/v1/v2/{path}", "HEAD /peer/v1/v2/{path}",
        }.Order().ToList()));

        var operationIds = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject()).Select(o => o.Value.GetProperty("operationId").GetString()).ToList();
        Assert.That(operationIds, Is.Unique);
        var errors = 0;
        foreach (var operation in paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject()))
        foreach (var answer in operation.Value.GetProperty("responses").EnumerateObject().Where(r => int.Parse(r.Name) >= 400))
        {
            errors++;
            var description = answer.Value.GetProperty("description").GetString()!;
            Assert.That(ProblemTypes.ByStatus[int.Parse(answer.Name)].All(description.Contains), Is.True, $"{operation.Name} {answer.Name}: {description}");
            Assert.That(answer.Value.GetProperty("content").TryGetProperty("application/problem+json", out _), Is.True, $"{operation.Name} {answer.Name}");
        }
        Assert.That(errors, Is.GreaterThan(20));

        var getDelta = paths.GetProperty("/api/v1/delta").GetProperty("get");
        Assert.That(getDelta.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()),
            Is.EquivalentTo(new[] { DeltaApi.FromDigest, DeltaApi.ToDigest, DeltaApi.ToTag, DeltaApi.AcceptedAlgorithm, DeltaApi.Platform }));
        var schema = document.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("DeltaResponse").GetProperty("properties");
        Assert.That(schema.TryGetProperty("delta_layer", out _), Is.True);
    }

    [Test]
    public async Task With_a_token_set_metrics_and_the_API_document_need_it_and_health_stays_open()
    {
        await using var server = await RunningServer.StartAsync("--Observability:Token", "op-s3cret");
        foreach (var path in new[] { "/metrics", "/openapi/v1.json" })
        {
            foreach (var authorization in new AuthenticationHeaderValue?[] { null, new("Bearer", "wrong"), new("Basic", "b3A6czNjcmV0") })
            {
                using var refused = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = authorization } };
                using var answer = await server.Http.SendAsync(refused);
                Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"{path} with {authorization}");
                Assert.That(answer.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
                Assert.That(await answer.Content.ReadAsStringAsync(), Does.Contain("Observability:Token"));
            }
            using var allowed = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new("Bearer", "op-s3cret") } };
            using var ok = await server.Http.SendAsync(allowed);
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK), path);
        }
        using var health = await server.Http.GetAsync("/healthz");
        Assert.That(await health.Content.ReadAsStringAsync(), Is.EqualTo("ok"));
    }

    [Test]
    public async Task Readyz_names_the_store_that_is_not_writable()
    {
        var clock = new ShiftedClock();
        await using var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock));
        using (var ready = await server.Http.GetAsync("/readyz"))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await ready.Content.ReadAsStringAsync(), Is.EqualTo("{\"store\":\"ok\",\"scratch\":\"ok\"}"));
        }
        // The store directory is replaced by a file: nothing can be written there any more (root ignores modes).
        Directory.Delete(server.StorePath, recursive: true);
        File.WriteAllText(server.StorePath, "not a directory");
        clock.Advance(TimeSpan.FromSeconds(3)); // past the 2 s the last answer is remembered
        using var notReady = await server.Http.GetAsync("/readyz");
        Assert.That(notReady.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(notReady.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var problem = JsonDocument.Parse(await notReady.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.NotReady));
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.StartWith("store: the store directory is not writable ("));
        using var health = await server.Http.GetAsync("/healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK), "alive all the same");
    }

    [Test]
    public async Task Readyz_says_when_the_registry_is_not_reachable()
    {
        var registry = await RegistryProcess.StartAsync();
        var clock = new ShiftedClock();
        await using var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock),
            "--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using (var ready = await server.Http.GetAsync("/readyz"))
            Assert.That(await ready.Content.ReadAsStringAsync(), Is.EqualTo("{\"registry\":\"ok\",\"scratch\":\"ok\"}"));
        var host = registry.Host;
        await registry.DisposeAsync(); // the registry stops
        clock.Advance(TimeSpan.FromSeconds(3)); // past the 2 s the last answer is remembered
        using var notReady = await server.Http.GetAsync("/readyz");
        Assert.That(notReady.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        using var problem = JsonDocument.Parse(await notReady.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo($"registry: the registry {host} is not reachable"));
    }

    [TestCase("json")]
    [TestCase("simple")]
    public async Task A_request_id_is_echoed_and_carried_by_the_log_lines_of_the_work_it_starts(string formatter)
    {
        using var dir = new TempDirectory();
        var store = new Doras.Oci.Layout.OciLayoutStore(dir["store"]);
        var v1 = TestData.Binary(100_000, 5);
        var from = await Versions.PublishFileAsync(store.Repository("fleet/app"), dir, "app", v1, "v1");
        await Versions.PublishFileAsync(store.Repository("fleet/app"), dir, "app", TestData.Edit(v1, 6), "v2");
        var port = FreePort();
        await using var process = ExternalTool.Start("dotnet",
            [Binaries.Server, "--urls", $"http://127.0.0.1:{port}", "--store", dir["store"], "--Logging:Console:FormatterName", formatter, "--Logging:Console:FormatterOptions:SingleLine", "true"]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await Eventually.UntilAsync(async () =>
        {
            try { using (await http.GetAsync("/healthz")) return true; }
            catch (HttpRequestException) { return false; }
        }, TimeSpan.FromSeconds(20), "the server answers /healthz");
        using var request = new HttpRequestMessage(HttpMethod.Get, DeltaRequests.Query("fleet/app", from, "v2"));
        request.Headers.Add("X-Request-Id", "device-42.check:7");
        using var response = await http.SendAsync(request);
        Assert.That(response.Headers.GetValues("X-Request-Id").Single(), Is.EqualTo("device-42.check:7"));

        using var unfit = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        unfit.Headers.TryAddWithoutValidation("X-Request-Id", "two words");
        using var own = await http.SendAsync(unfit);
        Assert.That(own.Headers.GetValues("X-Request-Id").Single(), Does.Not.Contain(" ").And.Not.Empty, "the server's own id instead");

        var building = await Eventually.UntilAsync(() => process.StdoutLines.FirstOrDefault(l => l.Contains("Building delta")), l => l is not null,
            TimeSpan.FromSeconds(30), "the build's log line");
        if (formatter == "simple")
        {
            // The simple formatter prints the scope as text: the id must be readable there, not a type name.
            Assert.That(building, Does.Contain("RequestId:device-42.check:7 TraceId:"));
            // Every line starts with its UTC time (appsettings.json's default format).
            Assert.That(building, Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: "));
            return;
        }
        using var line = JsonDocument.Parse(building!);
        Assert.That(line.RootElement.GetProperty("Timestamp").GetString(), Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"));
        var scopes = line.RootElement.GetProperty("Scopes").EnumerateArray().ToList();
        Assert.That(scopes.Any(s => s.TryGetProperty("RequestId", out var id) && id.GetString() == "device-42.check:7"), Is.True, building);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

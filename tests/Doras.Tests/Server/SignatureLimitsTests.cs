using System.Net;
using System.Text.Json;
using Doras.Api;

namespace Doras.Tests.Server;

/// <summary>The signature endpoint's bounds: its own size limit (413) rather than Kestrel's, 400 for garbage, and build slots shared with stored deltas (503).</summary>
public class SignatureLimitsTests
{
    private const string Repo = "fleet/fw";

    private static async Task<RunningServer> StartAsync(params string[] args)
    {
        var server = await RunningServer.StartAsync(args);
        await Versions.PublishFileAsync(server.Store.Repository(Repo), server.Scratch, "fw.bin", TestData.Binary(300_000, 1), "stable");
        return server;
    }

    private static string Path => $"{DeltaApi.SignaturePath}?{DeltaApi.ToTag}={Uri.EscapeDataString($"{Repo}:stable")}";

    private static async Task<(HttpStatusCode Status, string Detail, HttpResponseMessage Response)> PostAsync(RunningServer server, HttpContent body)
    {
        var response = await server.Http.PostAsync(Path, body);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, problem.RootElement.GetProperty("detail").GetString()!, response);
    }

    [Test]
    public async Task Over_the_limit_is_413_whether_or_not_the_length_was_announced()
    {
        await using var server = await StartAsync("--Delta:MaxSignatureBytes", "1000");
        var body = new byte[5000];
        // Expect: 100-continue, as a client sending a large body should: the answer comes before the body is sent.
        using var announced = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new ByteArrayContent(body) };
        announced.Headers.ExpectContinue = true;
        var response = await server.Http.SendAsync(announced);
        var status = response.StatusCode;
        var detail = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!;
        response.Dispose();
        Assert.That(status, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(detail, Is.EqualTo("the signature is larger than this server's limit of 1000 bytes (Delta:MaxSignatureBytes)"));

        (status, detail, response) = await PostAsync(server, new StreamContent(new MemoryStream(body))); // chunked: no Content-Length
        response.Dispose();
        Assert.That(status, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(detail, Does.Contain("limit of 1000 bytes"));
    }

    [Test]
    public async Task The_configured_limit_applies_past_kestrels_default_of_30_MB_and_garbage_is_400()
    {
        await using var server = await StartAsync("--Delta:MaxSignatureBytes", (40 << 20).ToString());
        var body = new byte[35 << 20];
        "OCTOSIG"u8.CopyTo(body);
        var (status, detail, response) = await PostAsync(server, new ByteArrayContent(body));
        response.Dispose();
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest), detail);
    }

    [Test]
    public async Task Signature_deltas_share_the_build_slots_and_get_503_with_retry_after_when_all_are_taken()
    {
        await using var server = await StartAsync("--Delta:MaxConcurrentBuilds", "1");
        var mine = TestData.Edit(TestData.Binary(300_000, 1), 5);
        var signature = new MemoryStream();
        await Doras.Delta.Octodiff.OctodiffSignature.WriteAsync(new MemoryStream(mine), signature);

        // A stored delta's build holds the only slot.
        var slot = server.Service<Doras.Server.Deltas.BuildSlots>().TryTake();
        Assert.That(slot, Is.Not.Null);
        var (status, detail, response) = await PostAsync(server, new ByteArrayContent(signature.ToArray()));
        using (response)
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(detail, Is.EqualTo("all 1 build slots of this server are busy; ask again later"));
            Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(10)));
        }
        slot!.Dispose();
        using var served = await server.Http.PostAsync(Path, new ByteArrayContent(signature.ToArray()));
        Assert.That(served.StatusCode, Is.EqualTo(HttpStatusCode.OK), await served.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task Slow_uploads_hold_upload_places_not_build_slots_and_the_third_at_once_gets_503()
    {
        await using var server = await StartAsync("--Delta:MaxConcurrentBuilds", "1");
        var gate = new TaskCompletionSource();
        var held = new[] { server.Http.PostAsync(Path, new GatedContent(gate.Task)), server.Http.PostAsync(Path, new GatedContent(gate.Task)) };
        var signatures = server.Service<Doras.Server.Deltas.SignatureDeltaService>();
        for (var attempt = 0; attempt < 300 && signatures.UploadsUnderWay < 2; attempt++) // bounded: 30 s
            await Task.Delay(100);
        Assert.That(signatures.UploadsUnderWay, Is.EqualTo(2), "both slow uploads are under way");
        var third = await PostAsync(server, new ByteArrayContent("OCTOSIG"u8.ToArray()));
        using (third.Response)
        {
            Assert.That(third.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(third.Detail, Is.EqualTo("this server is receiving as many signatures as it takes at once; ask again later"));
        }
        // The build slot stayed free for stored deltas all along.
        using (server.Service<Doras.Server.Deltas.BuildSlots>().TryTake() ?? throw new AssertionException("the build slot was taken by an upload")) { }

        gate.SetResult();
        foreach (var request in held)
        {
            using var response = await request;
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "each held upload was served once its body arrived");
        }
    }

    /// <summary>
    /// A body that keeps coming (1 KiB every 50 ms, above Kestrel's minimum data rate) until the gate opens, 30 s at
    /// most; then it ends, and the server finds it is no signature.
    /// </summary>
    private sealed class GatedContent(Task gate) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("OCTOSIG"u8.ToArray());
            for (var i = 0; i < 600 && !gate.IsCompleted; i++)
            {
                await stream.WriteAsync(new byte[1024]);
                await stream.FlushAsync();
                await Task.Delay(50);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

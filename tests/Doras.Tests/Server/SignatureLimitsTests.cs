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
        var (status, detail, response) = await PostAsync(server, new ByteArrayContent(body));
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
        // The first request holds the only slot while its body trickles in.
        var gate = new TaskCompletionSource();
        var held = server.Http.PostAsync(Path, new GatedContent(gate.Task));
        (HttpStatusCode Status, string Detail, HttpResponseMessage Response) second = default;
        for (var attempt = 0; attempt < 200; attempt++) // bounded: until the first request has its slot, 20 s at most
        {
            second = await PostAsync(server, new ByteArrayContent("OCTOSIG"u8.ToArray()));
            if (second.Status == HttpStatusCode.ServiceUnavailable) break;
            second.Response.Dispose();
            await Task.Delay(100);
        }
        using (second.Response)
        {
            Assert.That(second.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(second.Detail, Is.EqualTo("all 1 build slots of this server are busy; ask again later"));
            Assert.That(second.Response!.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(10)));
        }
        gate.SetResult();
        using var first = await held;
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "the held request was served once its body arrived");

        // With the slot free again, the next request is served.
        var (status, _, response) = await PostAsync(server, new ByteArrayContent("OCTOSIG"u8.ToArray()));
        response.Dispose();
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));
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

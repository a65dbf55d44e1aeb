using System.Net;
using System.Text.Json;
using Doras.Api;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Doras.Tests.Server;

/// <summary>The signature endpoint's bounds: its own size limit (413) rather than Kestrel's, 400 for garbage, and build slots shared with stored deltas (503).</summary>
public class SignatureLimitsTests
{
    private const string Repo = "fleet/fw";

    private static Task<RunningServer> StartAsync(params string[] args) => StartAsync(_ => { }, args);

    private static async Task<RunningServer> StartAsync(Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder> configure, params string[] args)
    {
        var server = await RunningServer.StartAsync(configure, args);
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
        await Eventually.UntilAsync(() => signatures.UploadsUnderWay >= 2, TimeSpan.FromSeconds(30), "both slow uploads are under way");
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

    [Test]
    public async Task Uploads_slower_than_kestrels_minimum_data_rate_get_408_problem_and_one_log_line_each()
    {
        var log = new LogCapture();
        await using var server = await StartAsync(builder =>
        {
            builder.Logging.AddProvider(log);
            // Kestrel's minimum request body data rate, quick for the test (by default 240 B/s after a 5 s grace period).
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(100, TimeSpan.FromSeconds(1.5)));
        });
        var uploads = await Task.WhenAll(TrickleAsync(server.Url), TrickleAsync(server.Url));
        foreach (var (status, contentType, body) in uploads)
        {
            Assert.That(status, Is.EqualTo(408), body);
            Assert.That(contentType, Is.EqualTo("application/problem+json"));
            using var problem = JsonDocument.Parse(body);
            Assert.That(problem.RootElement.GetProperty("status").GetInt32(), Is.EqualTo(408));
            Assert.That(problem.RootElement.GetProperty("title").GetString(), Is.EqualTo("Request timeout"));
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo("the signature arrived slower than this server's minimum request body data rate"));
        }
        var entries = log.Entries;
        var lines = string.Join('\n', entries.Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception}"));
        Assert.That(entries.Where(e => e.Exception is not null || e.Level >= LogLevel.Error), Is.Empty, lines);
        Assert.That(entries.Count(e => e.Message == $"Signature upload for {Repo}:stable ended with 408: the signature arrived slower than this server's minimum request body data rate"),
            Is.EqualTo(2), lines);
    }

    /// <summary>
    /// A signature trickled on a raw loopback connection (chunked, one byte every 200 ms: 5 B/s, below the test
    /// server's 100 B/s) until the answer starts to arrive; then the answer (read to the server's close). Raw, because
    /// HttpClient reports its next write on the closed connection rather than the answer that came first.
    /// </summary>
    private static async Task<(int Status, string? ContentType, string Body)> TrickleAsync(Uri server)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync("127.0.0.1", server.Port);
        var stream = client.GetStream();
        var answer = new MemoryStream();
        var reading = stream.CopyToAsync(answer);
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            $"POST {Path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nOCTOSIG\r\n"));
        for (var i = 0; i < 150 && !reading.IsCompleted && answer.Length == 0; i++) // bounded: 30 s; the client's pace, not a wait for the server
        {
            await stream.WriteAsync("1\r\n\0\r\n"u8.ToArray());
            await Task.WhenAny(reading, Task.Delay(200));
        }
        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        return ParseAnswer(System.Text.Encoding.UTF8.GetString(answer.ToArray()));
    }

    /// <summary>Status, content type and body of one HTTP/1.1 answer (its body plain or chunked).</summary>
    private static (int Status, string? ContentType, string Body) ParseAnswer(string text)
    {
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.That(split, Is.GreaterThan(0), text);
        var head = text[..split].Split("\r\n");
        var headers = head.Skip(1).Select(h => h.Split(':', 2)).ToDictionary(h => h[0].Trim(), h => h[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = text[(split + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding == "chunked")
        {
            var plain = new System.Text.StringBuilder();
            for (var at = 0; at < body.Length;) // each chunk: hex size CRLF data CRLF; the last one is empty
            {
                var eol = body.IndexOf("\r\n", at, StringComparison.Ordinal);
                var size = Convert.ToInt32(body[at..eol], 16);
                if (size == 0) break;
                plain.Append(body, eol + 2, size);
                at = eol + 2 + size + 2;
            }
            body = plain.ToString();
        }
        return (int.Parse(head[0].Split(' ')[1]), headers.GetValueOrDefault("Content-Type")?.Split(';')[0], body);
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

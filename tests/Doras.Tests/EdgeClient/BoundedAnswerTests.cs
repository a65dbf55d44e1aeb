using Doras.Api;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.EdgeClient;

/// <summary>
/// The delta client against a fake server on loopback whose answers never end or crawl: every body is read
/// under a bound and a stall timeout. Bytes are counted where the client reads them, under its HttpClient (the
/// server cannot count them: Kestrel drops writes after the client hangs up).
/// </summary>
public class BoundedAnswerTests
{
    private const long EndlessCap = 256L << 20; // the fake server's loops end here at the latest
    private long _sent; // bytes the slow answer sent

    [SetUp]
    public void ResetCount() => _sent = 0;

    /// <summary>A fake delta server: the delta API answers with endless JSON, the signature API with an endless delta, /slow at one byte a second.</summary>
    private async Task<WebApplication> StartFakeAsync() => await LoopbackApp.StartAsync("/{**path}", async context =>
    {
        var path = context.Request.Path.Value!;
        try
        {
            if (path == "/slow" + DeltaApi.Path)
            {
                context.Response.ContentType = "application/json";
                var json = """{"status":"ready","delta_image":"fleet/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"}"""u8.ToArray();
                for (var i = 0; i < Math.Min(json.Length, 60) && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(json.AsMemory(i, 1), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    Interlocked.Increment(ref _sent);
                    await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted);
                }
                return;
            }
            if (path == "/declared" + DeltaApi.Path)
            {
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 5 << 20; // says so up front; the client need not read a byte
                await context.Response.Body.WriteAsync(new byte[5 << 20], context.RequestAborted);
                return;
            }
            byte[] start;
            if (path == DeltaApi.SignaturePath)
            {
                context.Response.Headers[DeltaApi.ToImageHeader] = "fleet/app@" + Digest.Compute(new byte[] { 1 });
                context.Response.ContentType = "application/octet-stream";
                start = [];
            }
            else if (path == DeltaApi.Path && context.Request.Query[DeltaApi.AcceptedAlgorithm] == "problem")
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                context.Response.ContentType = "application/problem+json";
                start = """{"title":"Not Found","detail":" """u8.ToArray();
            }
            else
            {
                context.Response.ContentType = "application/json";
                start = """{"status":"ready","delta_image":" """u8.ToArray();
            }
            await context.Response.Body.WriteAsync(start, context.RequestAborted);
            var chunk = new byte[64 << 10];
            Array.Fill(chunk, (byte)'a');
            // Chunked, no Content-Length: it never ends. (Kestrel drops writes after a hang-up, so the loop asks.)
            for (long sent = 0; sent < EndlessCap && !context.RequestAborted.IsCancellationRequested; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                await Task.Yield();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException) { context.Abort(); }
    });

    private static DeltaRequest Request(string algorithm = "zstd") => new(
        Reference.Parse("fleet/app@" + Digest.Compute(new byte[] { 0 })), Reference.Parse("fleet/app:stable"), [algorithm]);

    [Test, CancelAfter(60_000)]
    public async Task An_endless_chunked_answer_to_the_delta_request_is_refused_at_the_bound(CancellationToken ct)
    {
        await using var fake = await StartFakeAsync();
        var counter = new CountingHandler();
        using var client = LoopbackDeltaClient.Create(new Uri(fake.Urls.First()), new BackoffOptions { MaxAttempts = 1 }, counter);

        var error = (await Assert.ThrowsAsync<InvalidDataException>(() => client.PollDeltaAsync(Request(), ct)))!;
        Assert.That(error.Message, Is.EqualTo($"the delta server's answer to GET {DeltaApi.Path}: the answer is longer than the limit of {4 << 20} bytes; refused"));
        Assert.That(counter.BytesRead, Is.GreaterThan(DeltaClient.MaxAnswerBytes).And.LessThan(DeltaClient.MaxAnswerBytes + (1 << 20)),
            "the client read up to its bound, then stopped");

        // An endless error answer keeps its status; its detail says why it was not read.
        var problem = (await Assert.ThrowsAsync<DeltaServerException>(() => client.PollDeltaAsync(Request("problem"), ct)))!;
        Assert.That(problem.Status, Is.EqualTo(System.Net.HttpStatusCode.NotFound));
        Assert.That(problem.Detail, Is.EqualTo($"(the server's error was longer than {4 << 20} bytes; not read)"));
    }

    [Test, CancelAfter(30_000)]
    public async Task An_answer_declaring_a_length_over_the_bound_is_refused_before_its_body_is_read(CancellationToken ct)
    {
        await using var fake = await StartFakeAsync();
        var counter = new CountingHandler();
        using var client = LoopbackDeltaClient.Create(new Uri(new Uri(fake.Urls.First()), "declared/"), new BackoffOptions { MaxAttempts = 1 }, counter);
        var error = (await Assert.ThrowsAsync<InvalidDataException>(() => client.PollDeltaAsync(Request(), ct)))!;
        Assert.That(error.Message, Is.EqualTo($"the delta server's answer to GET {DeltaApi.Path}: the answer declares {5 << 20} bytes, over the limit of {4 << 20} bytes; refused"));
        Assert.That(counter.BytesRead, Is.Zero);
    }

    [Test, CancelAfter(60_000)]
    public async Task An_endless_signature_delta_is_refused_at_the_bound_it_is_given(CancellationToken ct)
    {
        await using var fake = await StartFakeAsync();
        var counter = new CountingHandler();
        using var client = LoopbackDeltaClient.Create(new Uri(fake.Urls.First()), transport: counter);
        var delta = new MemoryStream();
        const long bound = 3 << 20;

        var error = (await Assert.ThrowsAsync<InvalidDataException>(() =>
            client.ReadDeltaFromSignatureAsync(Reference.Parse("fleet/app:stable"), new MemoryStream(new byte[100]), delta, bound, ct: ct)))!;
        Assert.That(error.Message, Is.EqualTo($"the signature delta to fleet/app:stable: the answer is longer than the limit of {bound} bytes; refused"));
        Assert.That(delta.Length, Is.LessThanOrEqualTo(bound), "nothing past the bound reached the output");
        Assert.That(counter.BytesRead, Is.LessThan(bound + (1 << 20)));
    }

    [Test, CancelAfter(30_000)]
    public async Task An_api_answer_at_one_byte_a_second_is_aborted_as_stalled(CancellationToken ct)
    {
        await using var fake = await StartFakeAsync();
        using var client = LoopbackDeltaClient.Create(new Uri(new Uri(fake.Urls.First()), "slow/"), new BackoffOptions { MaxAttempts = 1 });
        using (HttpBody.UseStallTimeout(TimeSpan.FromSeconds(2)))
        {
            var error = (await Assert.ThrowsAsync<ResponseStalledException>(() => client.PollDeltaAsync(Request(), ct)))!;
            Assert.That(error.Message, Does.StartWith($"the delta server's answer to GET {DeltaApi.Path}: the transfer stalled: only "));
        }
        Assert.That(Interlocked.Read(ref _sent), Is.InRange(1, 5), "given up after a few bytes of the slow answer, not waited out");
        Assert.That(HttpBody.StallTimeout, Is.EqualTo(HttpBody.DefaultStallTimeout), "the scope ended");
    }

    /// <summary>Counts the body bytes the client takes from the connection.</summary>
    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private long _read;
        public long BytesRead => Interlocked.Read(ref _read);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            var counted = new StreamContent(new CountingStream(await response.Content.ReadAsStreamAsync(ct), n => Interlocked.Add(ref _read, n)));
            foreach (var header in response.Content.Headers) counted.Headers.TryAddWithoutValidation(header.Key, header.Value);
            response.Content = counted;
            return response;
        }
    }

    private sealed class CountingStream(Stream inner, Action<int> count) : Doras.Oci.Content.ReadOnlyStream
    {
        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            count(n);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            count(n);
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

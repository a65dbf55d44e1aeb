using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Support;

/// <summary>
/// What the proxy does to one request: pass it, answer with a status, cut the body short, flip bytes, send the
/// body at one byte a second (<see cref="Trickle"/>), send it followed by more bytes than it declares
/// (<see cref="Oversize"/>, chunked), or answer 200 with bytes that never end (<see cref="Endless"/>, chunked,
/// without asking the real server).
/// </summary>
public enum Fault { None, ServiceUnavailable, TooManyRequests, CutBody, CorruptBody, Trickle, Oversize, Endless }

/// <summary>
/// A misbehaving HTTP server on loopback: forwards to a real server, injecting the next fault from a script
/// into each request whose path matches.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly Queue<Fault> _script = new();
    private readonly Func<string, bool> _applies;

    private FaultProxy(WebApplication app, HttpClient upstream, Func<string, bool> applies) => (_app, _upstream, _applies) = (app, upstream, applies);

    public Uri Url => new(_app.Urls.First());
    public int FaultsInjected { get; private set; }

    /// <summary>The Range header of each matching request, in order ("" when none).</summary>
    public List<string> Ranges { get; } = [];

    /// <summary>
    /// Body bytes written by <see cref="Fault.Trickle"/>, <see cref="Fault.Oversize"/> and <see cref="Fault.Endless"/>
    /// answers until the proxy noticed the client hung up (Kestrel drops writes after a hang-up and tells the
    /// handler a little later, so for fast writers this is an upper bound of what the client read, not a measure).
    /// </summary>
    public long FaultBytesSent => Interlocked.Read(ref _faultBytesSent);

    private long _faultBytesSent;

    /// <summary>The most an endless answer sends if the client never stops reading: the loop is bounded.</summary>
    public const long EndlessCap = 256L << 20;

    /// <summary>Headers an <see cref="Fault.Endless"/> answer carries.</summary>
    public Dictionary<string, string> EndlessHeaders { get; } = new() { ["Content-Type"] = "application/octet-stream" };

    /// <summary>Faults for the next matching requests, in order; after the script, requests pass.</summary>
    public void Script(params Fault[] faults)
    {
        lock (_script) foreach (var f in faults) _script.Enqueue(f);
    }

    public static async Task<FaultProxy> StartAsync(Uri upstream, Func<string, bool> applies)
    {
        var client = new HttpClient { BaseAddress = upstream };
        FaultProxy? proxy = null;
        var app = await LoopbackApp.StartAsync("/{**path}", context => proxy!.HandleAsync(context));
        proxy = new FaultProxy(app, client, applies);
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var fault = Fault.None;
        if (_applies(context.Request.Path))
            lock (_script)
            {
                Ranges.Add(context.Request.Headers.Range.ToString());
                if (_script.Count > 0) fault = _script.Dequeue();
            }
        if (fault != Fault.None) FaultsInjected++;
        switch (fault)
        {
            case Fault.ServiceUnavailable: context.Response.StatusCode = 503; return;
            case Fault.TooManyRequests: context.Response.StatusCode = 429; context.Response.Headers.RetryAfter = "1"; return;
            case Fault.Endless:
                context.Response.StatusCode = 200;
                foreach (var (name, value) in EndlessHeaders) context.Response.Headers[name] = value;
                var chunk = new byte[64 << 10];
                Array.Fill(chunk, (byte)'a');
                await SendWhileTheClientListensAsync(context, async token =>
                {
                    for (long sent = 0; sent < EndlessCap && !token.IsCancellationRequested; sent += chunk.Length) // Kestrel drops writes after a hang-up
                    {
                        await context.Response.Body.WriteAsync(chunk, token);
                        Interlocked.Add(ref _faultBytesSent, chunk.Length);
                        await Task.Yield();
                    }
                });
                return;
        }

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        foreach (var header in context.Request.Headers)
            if (header.Key is "Range" or "Accept" or "Authorization")
                request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
            if (header.Key is not "Transfer-Encoding" && !(fault == Fault.Oversize && header.Key == "Content-Length"))
                context.Response.Headers[header.Key] = header.Value.ToArray();
        var body = await response.Content.ReadAsByteArrayAsync();
        if (fault == Fault.Trickle)
        {
            // One byte a second, for at most two minutes: a link that is alive but useless.
            await SendWhileTheClientListensAsync(context, async token =>
            {
                for (var i = 0; i < Math.Min(body.Length, 120) && !token.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(body.AsMemory(i, 1), token);
                    await context.Response.Body.FlushAsync(token);
                    Interlocked.Increment(ref _faultBytesSent);
                    await Task.Delay(TimeSpan.FromSeconds(1), token);
                }
            });
            return;
        }
        if (fault == Fault.Oversize)
        {
            // The blob, then a mebibyte more than anyone asked for.
            await SendWhileTheClientListensAsync(context, async token =>
            {
                await context.Response.Body.WriteAsync(body, token);
                await context.Response.Body.WriteAsync(new byte[1 << 20], token);
                Interlocked.Add(ref _faultBytesSent, body.Length + (1 << 20));
            });
            return;
        }
        if (fault == Fault.CorruptBody && body.Length > 0) body[body.Length / 2] ^= 0xff;
        if (fault == Fault.CutBody)
        {
            await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 3));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }
        await context.Response.Body.WriteAsync(body);
    }

    /// <summary>Writes until done or until the client hangs up (which ends the writing, not the test).</summary>
    private static async Task SendWhileTheClientListensAsync(HttpContext context, Func<CancellationToken, Task> send)
    {
        try { await send(context.RequestAborted); }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException) { context.Abort(); }
    }

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.DisposeAsync();
    }
}

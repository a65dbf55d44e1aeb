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
/// The one HTTP proxy of the tests, on 127.0.0.1 with a random port, in front of a real server (a registry, the
/// Doras server). It forwards every request whole (method, headers, body) and passes its own Host upstream, so a
/// registry's upload and redirect locations point back through it and no request goes around it. Optionally it
/// records each request (<c>record: true</c>, see <see cref="Requests"/>) and injects the next fault of a
/// <see cref="Script"/> into each request whose path matches <c>faultsOn</c>.
/// </summary>
public sealed class LoopbackProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly Queue<Fault> _script = new();
    private readonly Func<string, bool> _faultsOn;
    private readonly bool _record;
    private int _faultsInjected;

    private LoopbackProxy(WebApplication app, HttpClient upstream, Func<string, bool> faultsOn, bool record) =>
        (_app, _upstream, _faultsOn, _record) = (app, upstream, faultsOn, record);

    public Uri Url => new(_app.Urls.First());
    public string Host => Url.Authority;

    /// <summary>With <c>record: true</c>, method, path and headers (names lower case) of each request, in order of arrival.</summary>
    public List<(string Method, string Path, Dictionary<string, string> Headers)> Requests { get; } = [];

    public int FaultsInjected => Volatile.Read(ref _faultsInjected);

    /// <summary>With <c>record: true</c>, path and body (as UTF-8) of each request that had a body, in order.</summary>
    public List<(string Path, string Body)> Bodies { get; } = [];

    /// <summary>
    /// A test's own answers before anything is forwarded (a peer that refuses a token, a sync that says 404): return true
    /// when it answered the request itself. Runs after recording, before faults.
    /// </summary>
    public Func<HttpContext, Task<bool>>? Intercept { get; set; }

    /// <summary>The Range header of each request that faults apply to, in order ("" when none).</summary>
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

    /// <summary>Faults for the next requests whose path matches <c>faultsOn</c>, in order; after the script, requests pass.</summary>
    public void Script(params Fault[] faults)
    {
        lock (_script) foreach (var f in faults) _script.Enqueue(f);
    }

    /// <param name="upstream">The real server.</param>
    /// <param name="faultsOn">The request paths the <see cref="Script"/>'s faults apply to (none when null).</param>
    /// <param name="record">Whether to keep each request's method, path and headers in <see cref="Requests"/>.</param>
    public static async Task<LoopbackProxy> StartAsync(Uri upstream, Func<string, bool>? faultsOn = null, bool record = false)
    {
        var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = upstream, Timeout = TimeSpan.FromMinutes(2) };
        LoopbackProxy? proxy = null;
        var app = await LoopbackApp.StartAsync("/{**path}", context => proxy!.HandleAsync(context));
        proxy = new LoopbackProxy(app, client, faultsOn ?? (_ => false), record);
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (_record)
        {
            var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            lock (Requests) Requests.Add((context.Request.Method, context.Request.Path.ToString(), headers));
        }
        if (Intercept is { } intercept && await intercept(context)) return;
        var fault = Fault.None;
        if (_faultsOn(context.Request.Path))
            lock (_script)
            {
                Ranges.Add(context.Request.Headers.Range.ToString());
                if (_script.Count > 0) fault = _script.Dequeue();
            }
        if (fault != Fault.None) Interlocked.Increment(ref _faultsInjected);
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

        using var request = await ForwardedRequestAsync(context);
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
            if (header.Key is not ("Transfer-Encoding" or "Connection") && !(fault == Fault.Oversize && header.Key == "Content-Length"))
                context.Response.Headers[header.Key] = header.Value.ToArray();
        if (fault == Fault.None)
        {
            if (context.Request.Method != "HEAD") await response.Content.CopyToAsync(context.Response.Body);
            return;
        }

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

    /// <summary>The request as it came (method, path and query, headers, body), with the proxy's own Host.</summary>
    private async Task<HttpRequestMessage> ForwardedRequestAsync(HttpContext context)
    {
        var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            request.Content = new ByteArrayContent(body.ToArray());
            if (_record) lock (Bodies) Bodies.Add((context.Request.Path.ToString(), System.Text.Encoding.UTF8.GetString(body.ToArray())));
        }
        else if (context.Request.Method is "PUT" or "POST" or "PATCH")
            request.Content = new ByteArrayContent([]);
        foreach (var header in context.Request.Headers)
        {
            if (header.Key is "Host" or "Content-Length" or "Transfer-Encoding" or "Connection") continue;
            if (header.Key.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)) request.Content?.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
            else request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
        }
        request.Headers.Host = context.Request.Host.ToString();
        return request;
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

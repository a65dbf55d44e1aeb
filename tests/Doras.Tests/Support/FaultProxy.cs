using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Support;

/// <summary>What the proxy does to one request: pass it, answer with a status, cut the body short, or flip bytes.</summary>
public enum Fault { None, ServiceUnavailable, TooManyRequests, CutBody, CorruptBody }

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
            lock (_script) if (_script.Count > 0) fault = _script.Dequeue();
        if (fault != Fault.None) FaultsInjected++;
        switch (fault)
        {
            case Fault.ServiceUnavailable: context.Response.StatusCode = 503; return;
            case Fault.TooManyRequests: context.Response.StatusCode = 429; context.Response.Headers.RetryAfter = "1"; return;
        }

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        foreach (var header in context.Request.Headers)
            if (header.Key is "Range" or "Accept" or "Authorization")
                request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
            if (header.Key is not "Transfer-Encoding")
                context.Response.Headers[header.Key] = header.Value.ToArray();
        var body = await response.Content.ReadAsByteArrayAsync();
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

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.DisposeAsync();
    }
}

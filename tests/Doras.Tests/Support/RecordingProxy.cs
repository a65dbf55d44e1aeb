using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Support;

/// <summary>
/// A transparent HTTP proxy on loopback in front of a real server (a registry, the Doras server) that records the
/// headers of every request it forwards. It passes the proxy's own Host upstream, so a registry's upload and
/// redirect locations point back through it and no request goes around it.
/// </summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;

    private RecordingProxy(WebApplication app, HttpClient upstream) => (_app, _upstream) = (app, upstream);

    public Uri Url => new(_app.Urls.First());
    public string Host => Url.Authority;

    /// <summary>Method, path and headers (names lower case) of each request, in order of arrival.</summary>
    public List<(string Method, string Path, Dictionary<string, string> Headers)> Requests { get; } = [];

    public static async Task<RecordingProxy> StartAsync(Uri upstream)
    {
        var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = upstream, Timeout = TimeSpan.FromMinutes(2) };
        RecordingProxy? proxy = null;
        var app = await LoopbackApp.StartAsync("/{**path}", context => proxy!.ForwardAsync(context));
        proxy = new RecordingProxy(app, client);
        return proxy;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        lock (Requests) Requests.Add((context.Request.Method, context.Request.Path.ToString(), headers));
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            request.Content = new ByteArrayContent(body.ToArray());
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
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
            if (header.Key is not ("Transfer-Encoding" or "Connection"))
                context.Response.Headers[header.Key] = header.Value.ToArray();
        if (context.Request.Method != "HEAD") await response.Content.CopyToAsync(context.Response.Body);
    }

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.DisposeAsync();
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Peering;

/// <summary>
/// A pass-through in front of a peer server (methods, bodies and the headers the peer API uses), that can answer
/// the sync request with a 404 for the whole repository, and the per-tag checks with 503, and records the bodies
/// of the requests it passes.
/// </summary>
public sealed class PrimaryFacade : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;

    private PrimaryFacade(WebApplication app, HttpClient upstream) => (_app, _upstream) = (app, upstream);

    public Uri Url => new(_app.Urls.First());
    public bool SyncSaysNotFound { get; set; }
    public bool ManifestChecksFail { get; set; }

    /// <summary>Answer the next request that carries a peer token with 401, as a primary restarted with other settings would.</summary>
    public bool RefuseNextToken { get; set; }

    /// <summary>While set, requests for a delta (<c>/peer/v1/delta</c>) wait for it before they are passed on.</summary>
    public TaskCompletionSource? HoldDeltas { get; set; }

    /// <summary>How many delta requests arrived.</summary>
    public int DeltaRequests => _deltaRequests;

    private int _deltaRequests;

    /// <summary>Answer every request with this <c>Set-Cookie</c> value, when set.</summary>
    public string? SetCookie { get; set; }

    /// <summary>The <c>Cookie</c> header of each request that carried one.</summary>
    public List<string> Cookies { get; } = [];

    /// <summary>Path and body of each request with a body, in order.</summary>
    public List<(string Path, string Body)> Bodies { get; } = [];

    /// <summary>The per-tag manifest checks (HEAD) the replica made, in order.</summary>
    public List<string> ManifestChecks { get; } = [];

    public static async Task<PrimaryFacade> StartAsync(Uri primary)
    {
        PrimaryFacade? facade = null;
        var app = await LoopbackApp.StartAsync("/{**path}", context => facade!.HandleAsync(context));
        facade = new PrimaryFacade(app, new HttpClient { BaseAddress = primary });
        return facade;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (context.Request.Headers.Cookie.Count > 0) lock (Cookies) Cookies.Add(context.Request.Headers.Cookie.ToString());
        if (SetCookie is { } cookie) context.Response.Headers.SetCookie = cookie;
        if (RefuseNextToken && context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal))
        {
            RefuseNextToken = false;
            context.Response.StatusCode = 401;
            return;
        }
        if (SyncSaysNotFound && path == "/peer/v1/sync")
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsync("{\"status\":404,\"title\":\"Image not found\",\"detail\":\"this server holds no repository\"}");
            return;
        }
        if (path == "/peer/v1/delta")
        {
            Interlocked.Increment(ref _deltaRequests);
            if (HoldDeltas is { } hold) await hold.Task.WaitAsync(TimeSpan.FromMinutes(2)); // bounded, should a test never release it
        }
        if (HttpMethods.IsHead(context.Request.Method) && path.Contains("/manifests/", StringComparison.Ordinal))
        {
            lock (ManifestChecks) ManifestChecks.Add(path);
            if (ManifestChecksFail) { context.Response.StatusCode = 503; return; }
        }
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            lock (Bodies) Bodies.Add((path, System.Text.Encoding.UTF8.GetString(body.ToArray())));
            request.Content = new ByteArrayContent(body.ToArray());
            if (context.Request.ContentType is { } type) request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        foreach (var header in context.Request.Headers)
            if (header.Key is "Authorization" or "Accept" or "Range")
                request.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
            if (header.Key is not "Transfer-Encoding") context.Response.Headers[header.Key] = header.Value.ToArray();
        if (!HttpMethods.IsHead(context.Request.Method)) await response.Content.CopyToAsync(context.Response.Body);
    }

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.DisposeAsync();
    }
}

using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Peering;

/// <summary>
/// The one loopback proxy in front of a peer server, with the peer API's own misbehaviours: it can answer the sync
/// request with a 404 for the whole repository and the per-tag checks with 503, refuse a token once, hold delta
/// requests, set cookies; and it records the bodies of the requests it passes.
/// </summary>
public sealed class PrimaryFacade : IAsyncDisposable
{
    private readonly LoopbackProxy _proxy;

    private PrimaryFacade(LoopbackProxy proxy) => _proxy = proxy;

    public Uri Url => _proxy.Url;
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
    public List<(string Path, string Body)> Bodies => _proxy.Bodies;

    /// <summary>The per-tag manifest checks (HEAD) the replica made, in order.</summary>
    public List<string> ManifestChecks { get; } = [];

    public static async Task<PrimaryFacade> StartAsync(Uri primary)
    {
        var facade = new PrimaryFacade(await LoopbackProxy.StartAsync(primary, record: true));
        facade._proxy.Intercept = facade.InterceptAsync;
        return facade;
    }

    /// <summary>True when the facade answered the request itself; otherwise the proxy passes it on.</summary>
    private async Task<bool> InterceptAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (context.Request.Headers.Cookie.Count > 0) lock (Cookies) Cookies.Add(context.Request.Headers.Cookie.ToString());
        if (SetCookie is { } cookie) context.Response.OnStarting(() => { context.Response.Headers.SetCookie = cookie; return Task.CompletedTask; });
        if (RefuseNextToken && context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal))
        {
            RefuseNextToken = false;
            context.Response.StatusCode = 401;
            return true;
        }
        if (SyncSaysNotFound && path == "/peer/v1/sync")
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsync("{\"status\":404,\"title\":\"Image not found\",\"detail\":\"this server holds no repository\"}");
            return true;
        }
        if (path == "/peer/v1/delta")
        {
            Interlocked.Increment(ref _deltaRequests);
            if (HoldDeltas is { } hold) await hold.Task.WaitAsync(TimeSpan.FromMinutes(2)); // bounded, should a test never release it
        }
        if (HttpMethods.IsHead(context.Request.Method) && path.Contains("/manifests/", StringComparison.Ordinal))
        {
            lock (ManifestChecks) ManifestChecks.Add(path);
            if (ManifestChecksFail)
            {
                context.Response.StatusCode = 503;
                return true;
            }
        }
        return false;
    }

    public ValueTask DisposeAsync() => _proxy.DisposeAsync();
}

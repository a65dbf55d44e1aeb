using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Doras.Oci.Remote.Auth;

/// <summary>
/// Authenticates requests to registries: anonymous first, then what the 401 challenge asks for, Basic or the
/// Bearer token flow (realm, service, scope; tokens cached per host and scope until they expire, refreshed on
/// 401). Follows redirects itself, so credentials are only ever sent to the registry host, never to the
/// storage a blob download is redirected to.
/// </summary>
/// <param name="forwarded">A client's authorization to send instead of authenticating (a server acting for it).</param>
/// <param name="forwardedHost">The only host <paramref name="forwarded"/> is sent to: not to another host a registry's
/// answer names (a pagination link, say).</param>
public sealed class RegistryAuthHandler(ICredentialProvider? credentials, AuthenticationHeaderValue? forwarded = null, string? forwardedHost = null) : DelegatingHandler
{
    private const int MaxRedirects = 5;
    private const int MaxTokenAnswerBytes = 1 << 20;
    private readonly ConcurrentDictionary<(string Host, string Scope), (string Header, DateTimeOffset Expires)> _tokens = new();
    private readonly ConcurrentDictionary<string, Challenge> _challenges = new();
    private readonly ConcurrentDictionary<(string Host, string Scope), AuthenticationHeaderValue> _accepted = new();

    /// <summary>The Authorization the registry last accepted for this host and scope, if any (for forwarding to a delta server).</summary>
    public AuthenticationHeaderValue? AcceptedAuthorization(string host, string scope) => _accepted.GetValueOrDefault((host, scope));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var host = request.RequestUri!.Authority;
        if (forwarded is not null)
        {
            // Acting for a client: use exactly its authorization, never our own credentials, and only with its registry.
            request.Headers.Authorization = forwardedHost is null || host == forwardedHost ? forwarded : null;
            return await SendFollowingRedirectsAsync(request, host, ct).ConfigureAwait(false);
        }
        var scope = ScopeOf(request);
        if (request.Headers.Authorization is null && _challenges.TryGetValue(host, out var known))
            request.Headers.Authorization = await AuthorizationAsync(host, known, scope, refresh: false, request, ct).ConfigureAwait(false);

        var response = await SendFollowingRedirectsAsync(request, host, ct).ConfigureAwait(false);
        if (response.IsSuccessStatusCode && request.Headers.Authorization is { } used) _accepted[(host, scope)] = used;
        if (response.StatusCode != HttpStatusCode.Unauthorized || !IsReplayable(request)) return response;
        var challenge = Challenge.From(response);
        if (challenge is null) return response;
        _challenges[host] = challenge;
        var authorization = await AuthorizationAsync(host, challenge, challenge["scope"] ?? scope, refresh: true, request, ct).ConfigureAwait(false);
        if (challenge["scope"] is { } granted && granted != scope && authorization is not null) _tokens[(host, scope)] = (authorization.Parameter!, DateTimeOffset.UtcNow.AddSeconds(50));
        if (authorization is null) return response;

        response.Dispose();
        request.Headers.Authorization = authorization;
        response = await SendFollowingRedirectsAsync(request, host, ct).ConfigureAwait(false);
        if (response.IsSuccessStatusCode) _accepted[(host, scope)] = authorization;
        return response;
    }

    private async Task<AuthenticationHeaderValue?> AuthorizationAsync(string host, Challenge challenge, string scope, bool refresh, HttpRequestMessage origin, CancellationToken ct)
    {
        var credential = credentials is null ? null : await credentials.GetAsync(host, ct).ConfigureAwait(false);
        if (challenge.Scheme == "Basic")
        {
            if (credential is null || credential.Username is null) return null;
            return new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));
        }
        if (!refresh && _tokens.TryGetValue((host, scope), out var cached) && cached.Expires > DateTimeOffset.UtcNow)
            return new AuthenticationHeaderValue("Bearer", cached.Header);
        var (token, expiresIn) = await FetchTokenAsync(challenge, scope, credential, origin, ct).ConfigureAwait(false);
        _tokens[(host, scope)] = (token, DateTimeOffset.UtcNow + expiresIn - TimeSpan.FromSeconds(10));
        return new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>Headers of the request that met the challenge that are about that request alone, not about who asks.</summary>
    private static readonly HashSet<string> RequestOnlyHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Range", "If-Match", "If-None-Match", "If-Range", "Accept", "Host", "Cookie",
    };

    /// <summary>
    /// The token server is part of the registry to the user: its requests carry the same User-Agent and configured
    /// headers (<c>--header</c>, the Docker config's <c>HttpHeaders</c>) as the request that was challenged, which
    /// its HttpClient's defaults gave it; a request made here inside the handler would otherwise go without them.
    /// </summary>
    private static void CopyCallerHeaders(HttpRequestMessage origin, HttpRequestMessage tokenRequest)
    {
        foreach (var (name, values) in origin.Headers)
            if (!RequestOnlyHeaders.Contains(name) && !tokenRequest.Headers.Contains(name))
                tokenRequest.Headers.TryAddWithoutValidation(name, values);
    }

    private async Task<(string Token, TimeSpan ExpiresIn)> FetchTokenAsync(Challenge challenge, string scope, Credential? credential, HttpRequestMessage origin, CancellationToken ct)
    {
        var realm = challenge["realm"] ?? throw new HttpRequestException("the registry's Bearer challenge has no realm");
        if (!Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) || realmUri.Scheme is not ("https" or "http"))
            throw new HttpRequestException($"the registry's token realm '{realm}' is not an http(s) URL");
        var scopes = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        HttpRequestMessage tokenRequest;
        if (credential?.IdentityToken is { Length: > 0 } refreshToken)
        {
            // OAuth2 refresh-token grant, as Docker does for identity tokens.
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"), new("refresh_token", refreshToken), new("client_id", "doras"),
            };
            if (challenge["service"] is { } s) form.Add(new("service", s));
            form.AddRange(scopes.Select(sc => new KeyValuePair<string, string>("scope", sc)));
            tokenRequest = new HttpRequestMessage(HttpMethod.Post, realmUri) { Content = new FormUrlEncodedContent(form) };
        }
        else
        {
            var query = new List<string>();
            if (challenge["service"] is { } service) query.Add("service=" + Uri.EscapeDataString(service));
            query.AddRange(scopes.Select(sc => "scope=" + Uri.EscapeDataString(sc)));
            var builder = new UriBuilder(realmUri) { Query = string.Join('&', query) };
            tokenRequest = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            if (credential is { Username: { } user })
                tokenRequest.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{credential.Password}")));
        }
        CopyCallerHeaders(origin, tokenRequest);
        using (tokenRequest)
        using (var response = await base.SendAsync(tokenRequest, ct).ConfigureAwait(false))
        {
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"the token server {realmUri.GetLeftPart(UriPartial.Path)} refused {(credential is null ? "anonymous access" : "the credentials")} for '{scope}': {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadBoundedAsync(MaxTokenAnswerBytes, $"the token server {realmUri.GetLeftPart(UriPartial.Path)}", ct).ConfigureAwait(false));
            var root = doc.RootElement;
            var token = (root.TryGetProperty("token", out var t) ? t.GetString() : null)
                ?? (root.TryGetProperty("access_token", out var a) ? a.GetString() : null)
                ?? throw new HttpRequestException("the token server's answer has no token");
            var expires = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
            return (token, TimeSpan.FromSeconds(expires));
        }
    }

    /// <summary>Sends, and follows redirects of GET/HEAD by hand: the Authorization header goes only to the original host.</summary>
    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(HttpRequestMessage request, string host, CancellationToken ct)
    {
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        for (var hop = 0; hop < MaxRedirects && IsRedirect(response.StatusCode) && response.Headers.Location is { } location
                          && (request.Method == HttpMethod.Get || request.Method == HttpMethod.Head); hop++)
        {
            var target = location.IsAbsoluteUri ? location : new Uri(response.RequestMessage?.RequestUri ?? request.RequestUri!, location);
            using var next = new HttpRequestMessage(request.Method, target);
            foreach (var header in request.Headers)
                if (header.Key is not "Authorization" and not "Host")
                    next.Headers.TryAddWithoutValidation(header.Key, header.Value);
            if (target.Authority == host && target.Scheme == request.RequestUri!.Scheme) next.Headers.Authorization = request.Headers.Authorization;
            response.Dispose();
            response = await base.SendAsync(next, ct).ConfigureAwait(false);
        }
        return response;
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>Only requests whose body can be sent again are retried after a challenge.</summary>
    public static bool IsReplayable(HttpRequestMessage request) => request.Content is null or ByteArrayContent or ReadOnlyMemoryContent;

    /// <summary>The token scope a request needs, from its path and method (e.g. <c>repository:foo/bar:pull,push</c>).</summary>
    internal static string ScopeOf(HttpRequestMessage request)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (path.StartsWith("/v2/_catalog", StringComparison.Ordinal)) return "registry:catalog:*";
        string? name = null;
        foreach (var marker in new[] { "/manifests/", "/blobs/", "/tags/", "/referrers/" })
        {
            var at = path.LastIndexOf(marker, StringComparison.Ordinal);
            if (at > 4) { name = path[4..at]; break; }
        }
        if (name is null) return "";
        var actions = request.Method == HttpMethod.Get || request.Method == HttpMethod.Head ? "pull"
            : request.Method == HttpMethod.Delete ? "delete" : "pull,push";
        var scope = $"repository:{name}:{actions}";
        // A cross-repository mount also reads the source repository.
        var query = request.RequestUri.Query;
        var from = System.Web.HttpUtility.ParseQueryString(query)["from"];
        return from is { Length: > 0 } ? $"{scope} repository:{from}:pull" : scope;
    }
}

using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote.Auth;

namespace Doras.Oci.Remote;

public sealed record RegistryClientOptions
{
    public ICredentialProvider? Credentials { get; init; }

    /// <summary>Talk plain HTTP instead of HTTPS. Only when explicitly allowed (a local or test registry).</summary>
    public bool PlainHttp { get; init; }

    public RegistryRetryOptions Retry { get; init; } = new();
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    public long MonolithicThreshold { get; init; } = 32L << 20;
    public int ChunkSize { get; init; } = 8 << 20;
    public IProgress<(Digest Digest, long Bytes)>? Progress { get; init; }

    /// <summary>Sent with every request (metadata such as a device's identity): see <see cref="RequestHeaders"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public string UserAgent { get; init; } = ClientIdentity.UserAgent;

    /// <summary>Send exactly this Authorization (a client's, forwarded by a server acting for it) instead of authenticating.</summary>
    public System.Net.Http.Headers.AuthenticationHeaderValue? ForwardedAuthorization { get; init; }
}

/// <summary>A host that does not speak the distribution (v2) API.</summary>
public sealed class NotARegistryException(string message) : Exception(message), IFailure
{
    public FailureKind Kind => FailureKind.Usage; // the user named the wrong host
}

/// <summary>
/// A registry, as a store of repositories: requests go through retries (Polly) and authentication
/// (anonymous, basic, bearer tokens), with redirects followed without leaking credentials.
/// </summary>
public sealed class RegistryClient : IOciStore, IRepositoryLister, IStoreProbe, IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryClientOptions _options;
    private readonly RegistryAuthHandler _auth;

    /// <param name="transport">A connection pool to share between clients (not disposed with this one); a new one when null.</param>
    public RegistryClient(string registry, RegistryClientOptions? options = null, HttpMessageHandler? transport = null)
    {
        _options = options ?? new RegistryClientOptions();
        Registry = registry;
        BaseAddress = new Uri($"{(_options.PlainHttp ? "http" : "https")}://{registry}/");
        var auth = _auth = new RegistryAuthHandler(_options.Credentials, _options.ForwardedAuthorization, BaseAddress.Authority)
        {
            InnerHandler = transport is null ? CreateTransport() : new SharedHandler(transport),
        };
        // Bodies are streamed under HttpBody's bounds; an answer HttpClient buffers (uploads' replies) stays small too.
        _http = new HttpClient(new RetryHandler(_options.Retry) { InnerHandler = auth }) { Timeout = _options.Timeout, MaxResponseContentBufferSize = OciJson.MaxManifestBytes };
        RequestHeaders.ApplyTo(_http, _options.UserAgent, _options.Headers);
    }

    public string Registry { get; }
    public Uri BaseAddress { get; }

    IOciRepository IOciStore.Repository(string name) => Repository(name);

    public RemoteRepository Repository(string name) => new(_http, BaseAddress, name)
    {
        MonolithicThreshold = _options.MonolithicThreshold,
        ChunkSize = _options.ChunkSize,
        Progress = _options.Progress,
    };

    /// <summary>Checks that this is an OCI registry we may talk to (GET /v2/, authenticating if asked).</summary>
    public async Task PingAsync(CancellationToken ct = default)
    {
        using var response = await _http.GetAsync(new Uri(BaseAddress, "v2/"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await RemoteRepository.EnsureSuccessAsync(response, $"registry {Registry}", ct).ConfigureAwait(false);
    }

    /// <summary>The readiness check of a registry: <see cref="PingAsync"/>.</summary>
    Task IStoreProbe.ProbeAsync(CancellationToken ct) => PingAsync(ct);

    /// <summary>The header of the registry API version (distribution's <c>registry/2.0</c>).</summary>
    public const string ApiVersionHeader = "Docker-Distribution-API-Version";

    /// <summary>
    /// The registry's API version: the <c>Docker-Distribution-API-Version</c> answer of <c>GET /v2/</c> (after
    /// authenticating if asked). A host that answers 404 there, or 200 without a <c>registry/2.0</c> version, is
    /// not a v2 registry: <see cref="NotARegistryException"/>.
    /// </summary>
    public async Task<string> GetVersionAsync(CancellationToken ct = default)
    {
        var url = new Uri(BaseAddress, "v2/");
        using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        var version = response.Headers.TryGetValues(ApiVersionHeader, out var values) ? values.FirstOrDefault()?.Trim() : null;
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound || (response.IsSuccessStatusCode && version is null))
            throw new NotARegistryException($"{Registry} is not an OCI (v2) registry: GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase} without a {ApiVersionHeader} header");
        await RemoteRepository.EnsureSuccessAsync(response, $"registry {Registry}", ct).ConfigureAwait(false);
        if (!version!.StartsWith("registry/2.", StringComparison.Ordinal))
            throw new NotARegistryException($"{Registry} is not an OCI (v2) registry: GET {url} answered {ApiVersionHeader}: {version}");
        return version;
    }

    /// <summary>The API version, once <see cref="EnsureRegistryAsync"/> has checked it.</summary>
    private string? _version;

    /// <summary>
    /// Throws <see cref="NotARegistryException"/> when the host is not a v2 registry; checked once per client. A 401 or
    /// 403 at <c>/v2/</c> is a registry's (one that lets no anonymous caller ping it).
    /// </summary>
    private async Task EnsureRegistryAsync(CancellationToken ct)
    {
        if (_version is not null) return;
        try { _version = await GetVersionAsync(ct).ConfigureAwait(false); }
        catch (HttpRequestException e) when (e.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden) { _version = "unknown"; }
    }

    /// <summary>
    /// The Authorization header this client uses to read <paramref name="repository"/> (Basic, or a Bearer token
    /// with pull scope), for handing to a delta server that reads the same images on the client's behalf.
    /// Null when the registry lets anyone read.
    /// </summary>
    public async Task<System.Net.Http.Headers.AuthenticationHeaderValue?> ReadAuthorizationAsync(string repository, CancellationToken ct = default)
    {
        var tagged = false;
        try
        {
            await foreach (var _ in Repository(repository).ListTagsAsync(ct).ConfigureAwait(false))
            {
                tagged = true;
                break;
            }
        }
        catch (System.Text.Json.JsonException)
        {
            await EnsureRegistryAsync(ct).ConfigureAwait(false); // a web page instead of a tag list
            throw;
        }
        // No tags: a registry without the repository, or no registry at all (a web server, a mistyped port), whose
        // 404s look the same.
        if (!tagged) await EnsureRegistryAsync(ct).ConfigureAwait(false);
        return _auth.AcceptedAuthorization(BaseAddress.Authority, $"repository:{repository}:pull");
    }

    /// <summary>The registry's repositories, page by page.</summary>
    public IAsyncEnumerable<string> CatalogAsync(int pageSize = 100, CancellationToken ct = default) =>
        Pagination.ListAsync(_http, new Uri(BaseAddress, $"v2/_catalog?n={pageSize}"), "repositories", $"catalog of {Registry}", ct);

    /// <summary>The catalog (<see cref="CatalogAsync"/>), 100 a page.</summary>
    public IAsyncEnumerable<string> ListRepositoriesAsync(CancellationToken ct = default) => CatalogAsync(ct: ct);

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Connections for registry clients: redirects are followed by the auth handler, not here. No cookies: one pool
    /// serves many callers (the server's own credentials and every device's), so a session cookie one of them got
    /// must never ride along with another's requests.
    /// </summary>
    public static SocketsHttpHandler CreateTransport() => new() { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5), UseCookies = false };
}

/// <summary>Lends a shared handler (a connection pool) to one HttpClient without letting it dispose the handler.</summary>
public sealed class SharedHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override void Dispose(bool disposing) { }
}

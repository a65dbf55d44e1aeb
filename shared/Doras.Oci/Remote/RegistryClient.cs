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
}

/// <summary>
/// A registry, as a store of repositories: requests go through retries (Polly) and authentication
/// (anonymous, basic, bearer tokens), with redirects followed without leaking credentials.
/// </summary>
public sealed class RegistryClient : IOciStore, IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryClientOptions _options;

    public RegistryClient(string registry, RegistryClientOptions? options = null)
    {
        _options = options ?? new RegistryClientOptions();
        Registry = registry;
        BaseAddress = new Uri($"{(_options.PlainHttp ? "http" : "https")}://{registry}/");
        var transport = new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        _http = new HttpClient(new RetryHandler(_options.Retry) { InnerHandler = new RegistryAuthHandler(_options.Credentials) { InnerHandler = transport } })
        {
            Timeout = _options.Timeout,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("doras-dotnet/0.1");
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
        using var response = await _http.GetAsync(new Uri(BaseAddress, "v2/"), ct).ConfigureAwait(false);
        await RemoteRepository.EnsureSuccessAsync(response, $"registry {Registry}", ct).ConfigureAwait(false);
    }

    /// <summary>The registry's repositories, page by page.</summary>
    public IAsyncEnumerable<string> CatalogAsync(int pageSize = 100, CancellationToken ct = default) =>
        Pagination.ListAsync(_http, new Uri(BaseAddress, $"v2/_catalog?n={pageSize}"), "repositories", $"catalog of {Registry}", ct);

    public void Dispose() => _http.Dispose();
}

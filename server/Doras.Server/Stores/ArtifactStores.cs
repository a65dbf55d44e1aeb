using System.Net.Http.Headers;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;
using Microsoft.Extensions.Options;

namespace Doras.Server.Stores;

/// <summary>Configuration section "Registry": when <see cref="Host"/> is set, versions and deltas live in that registry.</summary>
public sealed class RegistryOptions
{
    public const string Section = "Registry";

    /// <summary><c>host[:port]</c> of the registry; empty for the embedded store.</summary>
    public string? Host { get; set; }

    /// <summary>Plain HTTP instead of HTTPS: only for registries on a trusted local network.</summary>
    public bool PlainHttp { get; set; }

    /// <summary>Clients must send an Authorization header, which is forwarded to read their images.</summary>
    public bool RequireClientAuth { get; set; } = true;

    /// <summary>The server's own credentials per registry (it reads versions and writes deltas with them).</summary>
    public List<RegistryCredential> Credentials { get; set; } = [];

    /// <summary>A Docker config.json to take credentials from when none are configured here.</summary>
    public string? DockerConfig { get; set; }
}

public sealed class RegistryCredential
{
    public string Host { get; set; } = "";
    public string? Username { get; set; }
    public string? Password { get; set; }
}

/// <summary>
/// Where the server reads versions and stores deltas: the embedded layout store, or a registry. In registry
/// mode, a client's request is first checked by reading its images with the client's own authorization;
/// the build then runs with the server's credentials.
/// </summary>
public sealed class ArtifactStores : IDisposable
{
    private readonly RegistryOptions _registry;
    private readonly HttpMessageHandler? _transport;
    private readonly RegistryClient? _serverClient;

    /// <param name="transportWrapper">Takes part in the server's own pulls (peering asks peers when the registry rate-limits them; never a client's).</param>
    public ArtifactStores(IOptions<StoreOptions> store, IOptions<RegistryOptions> registry, IRegistryTransportWrapper? transportWrapper = null)
    {
        _registry = registry.Value;
        if (string.IsNullOrWhiteSpace(_registry.Host))
        {
            var path = Path.GetFullPath(store.Value.Path);
            Directory.CreateDirectory(path);
            Server = new OciLayoutStore(path);
            StorePath = path;
            return;
        }
        _transport = RegistryClient.CreateTransport();
        ICredentialProvider? fallback = _registry.DockerConfig is { Length: > 0 } config ? new DockerConfigCredentialProvider(config) : null;
        var credentials = new StaticCredentialProvider(
            _registry.Credentials.Where(c => c.Host.Length > 0).ToDictionary(c => c.Host, c => new Credential(c.Username, c.Password)), fallback);
        Server = _serverClient = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = _registry.PlainHttp, Credentials = credentials },
            transportWrapper?.Wrap(_transport) ?? _transport);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (bool Allowed, DateTimeOffset Checked)> _pushChecks = new();

    /// <summary>
    /// Whether the server's credentials may store deltas in a repository (checked against the registry, and
    /// remembered for five minutes), so no delta is built that could not be stored.
    /// </summary>
    public async Task<bool> ServerCanPushAsync(string repository, CancellationToken ct)
    {
        if (Server.Repository(repository) is not IPushPermission permission) return true;
        if (_pushChecks.TryGetValue(repository, out var known) && DateTimeOffset.UtcNow - known.Checked < TimeSpan.FromMinutes(5)) return known.Allowed;
        var allowed = await permission.CanPushAsync(ct).ConfigureAwait(false);
        _pushChecks[repository] = (allowed, DateTimeOffset.UtcNow);
        return allowed;
    }

    /// <summary>The embedded store's directory, null in registry mode.</summary>
    public string? StorePath { get; }

    /// <summary>The registry host in registry mode, null for the embedded store.</summary>
    public string? RegistryHost => string.IsNullOrWhiteSpace(_registry.Host) ? null : _registry.Host;

    /// <summary>The store as the server itself sees it (its own credentials).</summary>
    public IOciStore Server { get; }

    public bool RequireClientAuth => RegistryHost is not null && _registry.RequireClientAuth;

    /// <summary>Whether the registry is spoken to over plain HTTP.</summary>
    public bool PlainHttp => _registry.PlainHttp;

    /// <summary>The connection pool to the registry (registry mode only).</summary>
    public HttpMessageHandler SharedTransport() => _transport ?? throw new InvalidOperationException("no registry is configured");

    /// <summary>
    /// The store as a client sees it: in registry mode, every request carries the client's authorization. Only
    /// the client access rule decides when to call this.
    /// </summary>
    public IOciStore ForClient(AuthenticationHeaderValue? authorization) =>
        RegistryHost is null || authorization is null
            ? Server
            : new RegistryClient(RegistryHost, new RegistryClientOptions { PlainHttp = _registry.PlainHttp, ForwardedAuthorization = authorization, Retry = new() { MaxRetries = 1 } }, _transport);

    /// <summary>Null when this server serves the reference's registry; otherwise why not.</summary>
    public string? CheckRegistry(Reference reference) => (RegistryHost, reference.Registry) switch
    {
        (null, null) => null,
        (null, { } host) => $"this server serves its embedded store: name images without a registry host (e.g. '{reference.Repository}@…'), not '{host}'",
        ({ }, null) => null,
        ({ } mine, { } host) when host == mine => null,
        ({ } mine, { } host) => $"this server serves the registry '{mine}', not '{host}'",
    };

    /// <summary>How images are named in answers: with the registry host in registry mode.</summary>
    public string Name(string repository) => RegistryHost is null ? repository : $"{RegistryHost}/{repository}";

    public void Dispose()
    {
        _serverClient?.Dispose();
        _transport?.Dispose();
    }
}

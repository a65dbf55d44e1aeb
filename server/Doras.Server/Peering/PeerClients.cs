using System.Collections.Concurrent;
using Doras.Oci;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// Clients of our configured peers, one per peer and set of scopes, all of a peer's clients sharing one
/// connection pool. A client is made again when the peer's URL changes in the configuration.
/// </summary>
public sealed class PeerClients(IOptionsMonitor<PeeringOptions> options, TimeProvider time) : IDisposable
{
    private readonly ConcurrentDictionary<string, SocketsHttpHandler> _pools = new();
    private readonly ConcurrentDictionary<(string Peer, string Url, string Scopes), PeerClient> _clients = new();

    /// <summary>How long one call to a peer may take before it counts as a transient failure.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public IReadOnlyList<PeerOptions> Configured => options.CurrentValue.Peers;

    public PeerClient For(string peer, params string[] scopes)
    {
        var config = options.CurrentValue.Peer(peer) ?? throw new PeerNotConfiguredException(peer);
        if (PeeringRules.PeerProblem(config) is { } problem) throw new PeerNotConfiguredException(peer, problem);
        var key = (peer, config.Url, string.Join(' ', scopes.Order(StringComparer.Ordinal)));
        return _clients.GetOrAdd(key, _ =>
        {
            // No cookies: a peer (or anything in front of it) must not plant state our later calls carry.
            var pool = _pools.GetOrAdd(peer, _ => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false, UseCookies = false });
            var tokens = new PeerTokenHandler(peer, scopes, options, time) { InnerHandler = new Lent(pool) };
            return new PeerClient(peer, config, new HttpClient(tokens) { Timeout = Timeout }, tokens);
        });
    }

    public void Dispose()
    {
        foreach (var pool in _pools.Values) pool.Dispose();
    }

    /// <summary>Lends the peer's pool to one client without letting the client dispose it.</summary>
    private sealed class Lent(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override void Dispose(bool disposing) { }
    }
}

public sealed class PeerNotConfiguredException(string peer, string? why = null)
    : Exception(why is null ? $"no peer named '{peer}' is configured (Peering:Peers)" : $"peer '{peer}' is misconfigured: {why}"), IFailure
{
    public FailureKind Kind => FailureKind.Internal; // the server's settings, not the caller's request
}

using System.Collections.Concurrent;
using System.Globalization;
using Doras.Server.Access;

namespace Doras.Server.Peering;

/// <summary>
/// Endpoint metadata: this peer endpoint reads a repository, the one <paramref name="RepositoryOf"/> finds in the
/// request exactly as the handler does (null only when the handler reads none for this request, e.g. <c>/v2/</c>).
/// </summary>
public sealed record ReadsPeerRepository(Func<HttpContext, string?> RepositoryOf);

/// <summary>
/// Which peer may read which of our repositories: a grant (peer + repository) is recorded when the peer redeems a
/// sublease token to create a replica, and <see cref="CheckAsync"/> is the one rule every peer endpoint that reads
/// a repository is held to (<see cref="PeerScopeHandler"/> applies it). Grants live in our store
/// (<see cref="PeeringState"/>, tag <c>grant-&lt;sha256(peer, repository)&gt;</c>), so every instance sharing it
/// agrees; a grant seen is remembered for a short while, as the peer reads many blobs in a row.
/// </summary>
public sealed class PeerGrants(PeeringState state, TimeProvider time, ILogger<PeerGrants> logger)
{
    private const string ArtifactType = "application/vnd.doras.peering.grant.v1";
    private static readonly TimeSpan RememberFor = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);

    /// <summary>Records that <paramref name="peer"/> replicates <paramref name="repository"/> and may read it.</summary>
    public async Task GrantAsync(string peer, string repository, CancellationToken ct)
    {
        await state.WriteAsync(TagOf(peer, repository), ArtifactType, new Dictionary<string, string>
        {
            ["dev.doras.grant.peer"] = peer,
            ["dev.doras.grant.repository"] = repository,
            ["dev.doras.grant.at"] = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        }, ct).ConfigureAwait(false);
        _seen[TagOf(peer, repository)] = time.GetUtcNow() + RememberFor;
        logger.LogInformation("Granted peer {Peer} reads of {Repository} (its replica)", peer, repository);
    }

    /// <summary>
    /// Takes a grant back (a replica given up, a site decommissioned); false when there was none. Instances that saw
    /// the grant a moment ago stop honouring it within <see cref="RememberFor"/>.
    /// </summary>
    public async Task<bool> RevokeAsync(string peer, string repository, CancellationToken ct)
    {
        var tag = TagOf(peer, repository);
        _seen.TryRemove(tag, out _);
        var removed = await state.RemoveAsync(tag, ct).ConfigureAwait(false);
        if (removed) logger.LogInformation("Revoked peer {Peer}'s reads of {Repository}", peer, repository);
        return removed;
    }

    /// <summary>May this peer read this repository: null when it may, otherwise the refusal (404 for our own state, 403 without a grant).</summary>
    public async Task<ApiProblem?> CheckAsync(PeerIdentity peer, string repository, CancellationToken ct)
    {
        if (repository == state.Name) return ApiProblem.NotFound($"{repository} is not served to peers");
        var tag = TagOf(peer.Name, repository);
        if (_seen.TryGetValue(tag, out var until) && time.GetUtcNow() < until) return null;
        if (await state.Repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is null)
        {
            _seen.TryRemove(tag, out _);
            return ApiProblem.Forbidden($"peer '{peer.Name}' was granted no replica of {repository}: a replica is granted when it is created with a sublease token from this server");
        }
        _seen[tag] = time.GetUtcNow() + RememberFor;
        return null;
    }

    private static string TagOf(string peer, string repository) => PeeringState.TagOf("grant", peer, repository);
}

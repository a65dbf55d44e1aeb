using Doras.Delta.Algorithms;
using Doras.Oci.Content;
using Doras.Server.Access;
using Doras.Server.Deltas;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// The primary's side of replication: a repository's configuration, and its tag state compared with what a
/// replica holds. Repositories this server itself replicates are not offered (a replica is not a primary).
/// </summary>
public sealed class PrimaryRepositories(ArtifactStores stores, ReplicaRecords replicas, DeltaAlgorithms algorithms, IOptions<DeltaOptions> delta, IOptionsMonitor<PeeringOptions> options)
{
    public async Task<(RepositoryConfiguration? Configuration, ApiProblem? Problem)> ConfigurationAsync(string repository, CancellationToken ct)
    {
        if (await CheckAsync(repository, ct).ConfigureAwait(false) is { } problem) return (null, problem);
        var d = delta.Value;
        return (new RepositoryConfiguration
        {
            Repository = repository,
            Algorithms = algorithms.Names.ToList(),
            ZstdLevel = d.ZstdLevel,
            AutoMaxRatio = d.AutoMaxRatio,
            BsdiffMaxInputBytes = d.BsdiffMaxInputBytes,
            FailureRetentionSeconds = (int)d.FailureRetention.TotalSeconds,
            MaxSignatureBytes = d.MaxSignatureBytes,
        }, null);
    }

    /// <summary>What the replica must change: tags it lacks or holds at another digest, and tags we no longer have.</summary>
    public async Task<(SyncAnswer? Answer, ApiProblem? Problem)> CompareAsync(string repository, SyncRequest replica, CancellationToken ct)
    {
        if (replica.Tags.Count > options.CurrentValue.MaxSyncTags)
            return (null, ApiProblem.TooLarge($"the replica sent {replica.Tags.Count} tags, over Peering:MaxSyncTags ({options.CurrentValue.MaxSyncTags})"));
        if (await CheckAsync(repository, ct).ConfigureAwait(false) is { } problem) return (null, problem);
        var mine = await TagState.ReadAsync(stores.Server.Repository(repository), options.CurrentValue.MaxSyncTags, ct, "Peering:MaxSyncTags").ConfigureAwait(false);
        if (mine.Count == 0) return (null, ApiProblem.NotFound($"this server holds no repository {repository}"));
        var changed = mine.Where(t => !replica.Tags.TryGetValue(t.Key, out var theirs) || theirs != t.Value.Digest.ToString())
            .ToDictionary(t => t.Key, t => t.Value.Digest.ToString(), StringComparer.Ordinal);
        var deleted = replica.Tags.Keys.Where(t => !mine.ContainsKey(t)).Order(StringComparer.Ordinal).ToList();
        return (new SyncAnswer(changed, deleted, mine.Count - changed.Count), null);
    }

    private async Task<ApiProblem?> CheckAsync(string repository, CancellationToken ct)
    {
        if (!Oci.Model.Reference.IsValidRepository(repository) || repository == options.CurrentValue.StateRepository)
            return PeerProblems.Invalid($"'{repository}' is not a repository this server can replicate");
        if (await replicas.FindAsync(repository, ct).ConfigureAwait(false) is { } replica)
            return PeerProblems.NotPrimary(repository, replica.Peer, "replicate it from its primary");
        if (await TagState.IsEmptyAsync(stores.Server.Repository(repository), ct).ConfigureAwait(false))
            return ApiProblem.NotFound($"this server holds no repository {repository}");
        return null;
    }
}

using Doras.Delta.Algorithms;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Stores;

namespace Doras.Server.Peering;

/// <summary>Creating a replica: the primary takes our sublease token and tells us the repository's configuration, which we record.</summary>
public sealed class Replicas(ArtifactStores stores, ReplicaRecords records, PeerClients peers, DeltaAlgorithms algorithms, TimeProvider time, ILogger<Replicas> logger)
{
    /// <summary>The record of the new replica; throws with the primary's refusal (sublease missing, used, expired…).</summary>
    public async Task<(ReplicaRecord Record, IReadOnlyList<string> Warnings)> AddAsync(string repository, string peer, string? sublease, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(repository)) throw new ArgumentException($"'{repository}' is not a valid repository name");
        var existing = await records.FindAsync(repository, ct).ConfigureAwait(false);
        if (existing is null && !await TagState.IsEmptyAsync(stores.Server.Repository(repository), ct).ConfigureAwait(false))
            throw new InvalidOperationException($"this server already holds {repository} as its own repository; a replica must start empty");

        var client = peers.For(peer, PeerScopes.Replicate);
        var configuration = await client.SendAsync<RepositoryConfiguration>(HttpMethod.Post, PeerApi.Replicas + PeerApi.Query(repository), new ReplicaRequest(sublease), ct).ConfigureAwait(false);
        if (configuration.Repository != repository)
            throw new InvalidDataException($"peer {peer} answered with the configuration of {configuration.Repository}, not {repository}");

        // Deltas this server cannot read are asked of the primary, so devices here get the primary's answers either way.
        var missing = configuration.Algorithms.Except(algorithms.Names).ToList();
        var warnings = missing.Count == 0 ? [] : new List<string> { $"the primary has delta algorithms this server lacks ({string.Join(", ", missing)})" };
        var record = new ReplicaRecord(repository, peer, configuration, time.GetUtcNow());
        await records.SaveAsync(record, ct).ConfigureAwait(false);
        logger.LogInformation("{Repository} is now a replica of peer {Peer}", repository, peer);
        return (record, warnings);
    }
}

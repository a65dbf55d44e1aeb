using System.Text.Json;
using Doras.Oci.Content;

namespace Doras.Server.Peering;

/// <summary>One repository this server replicates: from which peer, with the primary's configuration.</summary>
public sealed record ReplicaRecord(string Repository, string Peer, RepositoryConfiguration Configuration, DateTimeOffset CreatedAt);

/// <summary>
/// The replicas of this server, kept in its own store (<see cref="PeeringState"/>): one record per replica, under
/// tag <c>replica-&lt;sha256 of the repository&gt;</c> with the record as its JSON config blob, so replicas added at
/// once (by two instances, or an admin command beside the server) never overwrite each other's records, and a
/// restart keeps them. Read through a short cache: the delta path asks for every request.
/// </summary>
public sealed class ReplicaRecords(PeeringState state, TimeProvider time)
{
    private const string Prefix = "replica";
    private const string MediaType = "application/vnd.doras.peering.replica.v1+json";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(10);
    private (IReadOnlyList<ReplicaRecord> Records, DateTimeOffset At)? _cache;

    public async Task<IReadOnlyList<ReplicaRecord>> ListAsync(CancellationToken ct, bool fresh = false)
    {
        if (!fresh && _cache is { } c && time.GetUtcNow() - c.At < CacheFor) return c.Records;
        var records = await ReadAsync(ct).ConfigureAwait(false);
        _cache = (records, time.GetUtcNow());
        return records;
    }

    /// <summary>The replica record of a repository, or null when this server is its primary (or does not serve it).</summary>
    public async Task<ReplicaRecord?> FindAsync(string repository, CancellationToken ct) =>
        (await ListAsync(ct).ConfigureAwait(false)).FirstOrDefault(r => r.Repository == repository);

    /// <summary>Records a replica (replacing an earlier record of the same repository, and only that).</summary>
    public async Task SaveAsync(ReplicaRecord record, CancellationToken ct)
    {
        await state.WriteAsync(PeeringState.TagOf(Prefix, record.Repository), MediaType,
            new Dictionary<string, string> { ["dev.doras.replica.repository"] = record.Repository }, ct,
            JsonSerializer.SerializeToUtf8Bytes(record, PeerApi.Json)).ConfigureAwait(false);
        _cache = null; // the next read sees it
    }

    private async Task<IReadOnlyList<ReplicaRecord>> ReadAsync(CancellationToken ct)
    {
        var repository = state.Repository;
        var records = new List<ReplicaRecord>();
        await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
        {
            if (!tag.StartsWith(Prefix + "-", StringComparison.Ordinal)) continue;
            if (await repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is not { } descriptor) continue; // removed meanwhile
            var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
            var bytes = await repository.FetchBytesAsync(manifest.Config, PeerApi.MaxJsonBytes, ct).ConfigureAwait(false);
            if (JsonSerializer.Deserialize<ReplicaRecord>(bytes, PeerApi.Json) is { } record) records.Add(record);
        }
        return records.OrderBy(r => r.Repository, StringComparer.Ordinal).ToList();
    }
}

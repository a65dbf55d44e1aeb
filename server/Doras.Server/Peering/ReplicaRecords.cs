using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>One repository this server replicates: from which peer, with the primary's configuration.</summary>
public sealed record ReplicaRecord(string Repository, string Peer, RepositoryConfiguration Configuration, DateTimeOffset CreatedAt);

/// <summary>
/// The replicas of this server, kept in its own store (the <c>Peering:StateRepository</c> repository, tag
/// <c>replicas</c>: a manifest whose config blob is the JSON list), so every instance sharing the store knows them
/// and a restart keeps them. Read through a short cache: the delta path asks for every request.
/// </summary>
public sealed class ReplicaRecords(ArtifactStores stores, IOptionsMonitor<PeeringOptions> options, TimeProvider time)
{
    private const string Tag = "replicas";
    private const string MediaType = "application/vnd.doras.peering.replicas.v1+json";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(10);
    private readonly SemaphoreSlim _write = new(1, 1);
    private (IReadOnlyList<ReplicaRecord> Records, DateTimeOffset At)? _cache;

    private IOciRepository State => stores.Server.Repository(options.CurrentValue.StateRepository);

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

    /// <summary>Records a replica (replacing an earlier record of the same repository).</summary>
    public async Task SaveAsync(ReplicaRecord record, CancellationToken ct)
    {
        await _write.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var records = (await ReadAsync(ct).ConfigureAwait(false)).Where(r => r.Repository != record.Repository).Append(record)
                .OrderBy(r => r.Repository, StringComparer.Ordinal).ToList();
            var state = State;
            var config = await state.PushBytesAsync(MediaType, JsonSerializer.SerializeToUtf8Bytes(records, PeerApi.Json), ct).ConfigureAwait(false);
            await state.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);
            await state.PushManifestAsync(new ImageManifest { ArtifactType = MediaType, Config = config, Layers = [] }, [Tag], ct).ConfigureAwait(false);
            _cache = (records, time.GetUtcNow());
        }
        finally { _write.Release(); }
    }

    private async Task<IReadOnlyList<ReplicaRecord>> ReadAsync(CancellationToken ct)
    {
        var state = State;
        if (await state.TryResolveAsync(Tag, ct).ConfigureAwait(false) is not { } descriptor) return [];
        var manifest = await state.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        var bytes = await state.FetchBytesAsync(manifest.Config, PeerApi.MaxJsonBytes, ct).ConfigureAwait(false);
        return JsonSerializer.Deserialize<List<ReplicaRecord>>(bytes, PeerApi.Json) ?? [];
    }
}

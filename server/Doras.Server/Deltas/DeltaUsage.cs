using System.Collections.Concurrent;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Stores;

namespace Doras.Server.Deltas;

/// <summary>
/// When each delta was last asked for, so garbage collection keeps what devices still use. Recording is a memory
/// write per ready answer (no store write per request); the records are written to the store every
/// <c>Gc:UsageFlushInterval</c> and when the server stops, per repository as one small artifact at the tag
/// <c>_doras-usage</c> (a JSON map of delta manifest digest to the last day it was asked for), merged with what is
/// there (the later date wins), so instances sharing a registry add to one record. Two instances flushing the same
/// repository at the same instant can lose one's dates of that interval: with dates kept to the day and a retention
/// of days, that at worst keeps a delta until the next flush or drops one a device asked for once in that window.
/// </summary>
public sealed class DeltaUsage(ArtifactStores stores, TimeProvider time, ILogger<DeltaUsage> logger)
{
    public const string Tag = "_doras-usage";
    private const string MediaType = "application/vnd.doras.usage.v1+json";
    private const string ArtifactType = "application/vnd.doras.usage.v1";
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Digest, DateOnly>> _pending = new();

    /// <summary>A ready answer named this delta manifest.</summary>
    public void Record(string repository, Digest deltaManifest)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var dates = _pending.GetOrAdd(repository, _ => new ConcurrentDictionary<Digest, DateOnly>());
        if (!dates.TryGetValue(deltaManifest, out var known) || known != today) dates[deltaManifest] = today;
    }

    /// <summary>The last day each delta was asked for: the store's record and what this process has not written yet.</summary>
    public async Task<IReadOnlyDictionary<Digest, DateOnly>> ReadAsync(string repository, CancellationToken ct)
    {
        var (stored, _) = await ReadStoredAsync(stores.Server.Repository(repository), ct).ConfigureAwait(false);
        if (_pending.TryGetValue(repository, out var pending))
            foreach (var (digest, date) in pending) Later(stored, digest, date);
        return stored;
    }

    /// <summary>Writes the pending records of every repository, merged with the stored ones.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        foreach (var repository in _pending.Keys.ToList())
        {
            if (!_pending.TryRemove(repository, out var pending) || pending.IsEmpty) continue;
            try
            {
                var store = stores.Server.Repository(repository);
                var (merged, previous) = await ReadStoredAsync(store, ct).ConfigureAwait(false);
                foreach (var (digest, date) in pending) Later(merged, digest, date);
                var json = JsonSerializer.SerializeToUtf8Bytes(merged.OrderBy(m => m.Key.ToString()).ToDictionary(m => m.Key.ToString(), m => m.Value.ToString("yyyy-MM-dd")));
                var layer = await store.PushBytesAsync(MediaType, json, ct).ConfigureAwait(false);
                await store.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);
                var written = await store.PushManifestAsync(new ImageManifest { ArtifactType = ArtifactType, Config = Descriptor.EmptyJson, Layers = [layer] }, [Tag], ct).ConfigureAwait(false);
                // The record replaced stays nowhere: a registry keeps untagged manifests until they are deleted (a store
                // that sweeps its own garbage frees it itself).
                if (previous is { } old && old != written.Digest && store is not IGarbageSweeper && store is IManifestDeleter deleter)
                    await deleter.DeleteManifestAsync(old, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Put them back for the next flush.
                var dates = _pending.GetOrAdd(repository, _ => new ConcurrentDictionary<Digest, DateOnly>());
                foreach (var (digest, date) in pending) dates.AddOrUpdate(digest, date, (_, d) => d > date ? d : date);
                logger.LogWarning("Could not write the delta usage record of {Repository}: {Error}", repository, e.Message);
            }
        }
    }

    private static async Task<(Dictionary<Digest, DateOnly> Dates, Digest? Manifest)> ReadStoredAsync(IOciRepository repository, CancellationToken ct)
    {
        var dates = new Dictionary<Digest, DateOnly>();
        var descriptor = await repository.TryResolveAsync(Tag, ct).ConfigureAwait(false);
        if (descriptor is null) return (dates, null);
        var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        if (manifest.Layers is not [var layer] || layer.MediaType != MediaType) return (dates, descriptor.Digest);
        var json = await repository.FetchBytesAsync(layer, ct: ct).ConfigureAwait(false);
        foreach (var (key, value) in JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [])
            if (Digest.TryParse(key, out var digest) && DateOnly.TryParseExact(value, "yyyy-MM-dd", out var date)) Later(dates, digest, date);
        return (dates, descriptor.Digest);
    }

    private static void Later(Dictionary<Digest, DateOnly> dates, Digest digest, DateOnly date)
    {
        if (!dates.TryGetValue(digest, out var known) || date > known) dates[digest] = date;
    }
}

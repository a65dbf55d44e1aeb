using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Stores;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>Settings of the ready-answer cache (section "Delta", beside the build settings).</summary>
public sealed class AnswerCacheOptions
{
    /// <summary>How many ready answers are kept in memory; 0 turns the cache off.</summary>
    public int AnswerCacheEntries { get; set; } = 10_000;

    /// <summary>
    /// The longest an answer is served from memory before it is worked out again from the store (so a delta another
    /// instance deleted stops being announced within this time).
    /// </summary>
    public TimeSpan AnswerCacheTtl { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// A delta request as far as it decides the answer: repository, installed digest, target as named (tag or digest),
/// the accepted algorithms in the order given. The caller is not part of it: who may see the answer is checked per
/// request.
/// </summary>
public sealed record AnswerKey(string Repository, Digest From, string To, string Algorithms);

/// <summary>
/// Ready answers kept in memory, so a delta that is built is answered without reading the store again. Every hit
/// is revalidated on the request that gets it:
/// <list type="bullet">
/// <item>Registry mode: a HEAD of the target (tag or digest) with the caller's own authorization (exactly what
/// <see cref="ClientAccess"/> does: the registry decides), which must name the target the answer was made for. A
/// caller the registry refuses, or a tag that moved, falls through to the full answer (which says 401/403, or
/// answers for the new target). A cached answer is never served without that HEAD succeeding for this caller.</item>
/// <item>Embedded store (anyone may read everything): the repository's change stamp (<see cref="IChangeStamps"/>: its
/// <c>index.json</c>'s modification time and size, one <c>stat</c>) must be the one the answer was made from; any tag
/// written since, by this server or by <c>doras push</c>, makes the answer be worked out again.</item>
/// </list>
/// Bounded by <c>Delta:AnswerCacheEntries</c>; each answer lives at most <c>Delta:AnswerCacheTtl</c>.
/// </summary>
public sealed class ReadyAnswers : IDisposable
{
    private readonly MemoryCache? _cache;
    private readonly ArtifactStores _stores;
    private readonly DeltaMetrics _metrics;
    private readonly TimeSpan _ttl;

    public ReadyAnswers(ArtifactStores stores, DeltaMetrics metrics, IOptions<AnswerCacheOptions> options)
    {
        _stores = stores;
        _metrics = metrics;
        _ttl = options.Value.AnswerCacheTtl;
        if (options.Value.AnswerCacheEntries > 0 && _ttl > TimeSpan.Zero)
            _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.Value.AnswerCacheEntries });
    }

    private sealed record Entry(DeltaOutcome.Ready Answer, Digest To, string? Stamp);

    /// <summary>What identifies the store's state an answer is made from, taken before the answer is worked out.</summary>
    public string? Stamp(string repository) =>
        _stores.Server is IChangeStamps stamps ? stamps.ChangeStamp(repository) : null;

    /// <summary>The remembered answer, revalidated for this caller; null when there is none or it no longer holds.</summary>
    public async Task<DeltaOutcome.Ready?> TryAnswerAsync(Caller caller, AnswerKey key, CancellationToken ct)
    {
        if (_cache is null) return null;
        if (!_cache.TryGetValue(key, out Entry? entry) || entry is null)
        {
            _metrics.AnswerCache.WithLabels("miss").Inc();
            return null;
        }
        switch (await RevalidateAsync(caller, key, entry, ct).ConfigureAwait(false))
        {
            case Revalidation.Holds:
                _metrics.AnswerCache.WithLabels("hit").Inc();
                return entry.Answer;
            case Revalidation.Changed:
                _cache.Remove(key);
                _metrics.AnswerCache.WithLabels("stale").Inc();
                return null;
            default:
                // Not for this caller (or the registry failed): the full answer says why; the entry stays for others.
                _metrics.AnswerCache.WithLabels("not_confirmed").Inc();
                return null;
        }
    }

    private enum Revalidation { Holds, Changed, NotConfirmed }

    /// <summary>Remembers a ready answer made from the store as it was at <paramref name="stamp"/>.</summary>
    public void Remember(AnswerKey key, DeltaOutcome.Ready answer, string? stamp)
    {
        if (_cache is null || Reference.Parse(answer.Response.ToImage).Digest is not { } to) return;
        _cache.Set(key, new Entry(answer, to, stamp), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _ttl });
    }

    /// <summary>Forgets every answer (after garbage collection deleted deltas).</summary>
    public void Clear() => _cache?.Clear();

    private async Task<Revalidation> RevalidateAsync(Caller caller, AnswerKey key, Entry entry, CancellationToken ct)
    {
        if (_stores.Server is IChangeStamps stamps)
            return entry.Stamp is { } stamp && stamps.ChangeStamp(key.Repository) == stamp ? Revalidation.Holds : Revalidation.Changed;
        if (caller.Images.Repository(key.Repository) is not IManifestStat images) return Revalidation.NotConfirmed;
        try
        {
            var target = await images.StatManifestAsync(key.To, ct).ConfigureAwait(false);
            return target is not null && target.Digest == entry.To ? Revalidation.Holds : Revalidation.Changed;
        }
        catch (HttpRequestException) { return Revalidation.NotConfirmed; }
    }

    public void Dispose() => _cache?.Dispose();
}

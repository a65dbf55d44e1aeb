using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>
/// Embedded store: notices versions published with <c>doras push --store</c>, which writes the layout directly, by
/// looking every <c>Precompute:PollInterval</c> at the repositories whose change stamp (<see cref="IChangeStamps"/>:
/// the layout's <c>index.json</c>) changed; a manifest tagged since the last look is a new version. What is there at
/// start-up is taken as known. A store without change stamps (a registry) announces pushes itself (its webhook).
/// </summary>
public sealed class StoreWatcher(ArtifactStores stores, PublishedVersions published, IOptions<PrecomputeOptions> options, ILogger<StoreWatcher> logger) : BackgroundService
{
    private const int MaxRepositories = 10_000;
    private readonly Dictionary<string, (string Changed, HashSet<Digest> Tagged)> _seen = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (stores.Server is not IChangeStamps stamps || stores.Server is not IRepositoryLister lister
            || options.Value.PollInterval <= TimeSpan.Zero || options.Value.PreviousVersions <= 0) return;
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await LookAsync(lister, stamps, announce: !first, stoppingToken).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not look for new versions in the store");
            }
            first = false;
            await Task.Delay(options.Value.PollInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task LookAsync(IRepositoryLister lister, IChangeStamps stamps, bool announce, CancellationToken ct)
    {
        var looked = 0;
        await foreach (var name in lister.ListRepositoriesAsync(ct).ConfigureAwait(false))
        {
            if (++looked > MaxRepositories) break;
            if (stamps.ChangeStamp(name) is not { } changed) continue; // nothing tagged yet
            if (_seen.TryGetValue(name, out var seen) && seen.Changed == changed) continue;

            var repository = stores.Server.Repository(name);
            var tagged = new HashSet<Digest>();
            await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
            {
                if (tag.StartsWith("_delta-", StringComparison.Ordinal)) continue;
                if (await repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is { } descriptor) tagged.Add(descriptor.Digest);
            }
            if (announce)
            {
                foreach (var digest in tagged.Where(d => seen.Tagged is null || !seen.Tagged.Contains(d)))
                {
                    if (!published.TryAdd(new PublishedVersion(name, digest)))
                        logger.LogWarning("Too many versions waiting for precomputed deltas; {Repository}@{Digest} is left to devices' requests", name, digest);
                }
            }
            _seen[name] = (changed, tagged);
        }
    }
}

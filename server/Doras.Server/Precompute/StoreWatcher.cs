using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>
/// Embedded store: notices versions published with <c>doras push --store</c>, which writes the layout directly, by
/// looking every <c>Precompute:PollInterval</c> at the repositories whose <c>index.json</c> changed; a manifest
/// tagged since the last look is a new version. What is there at start-up is taken as known.
/// </summary>
public sealed class StoreWatcher(ArtifactStores stores, PublishedVersions published, IOptions<PrecomputeOptions> options, ILogger<StoreWatcher> logger) : BackgroundService
{
    private const int MaxRepositories = 10_000;
    private readonly Dictionary<string, (DateTime Changed, HashSet<Digest> Tagged)> _seen = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (stores.Server is not OciLayoutStore store || options.Value.PollInterval <= TimeSpan.Zero || options.Value.PreviousVersions <= 0) return;
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await LookAsync(store, announce: !first, stoppingToken).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not look for new versions in the store");
            }
            first = false;
            await Task.Delay(options.Value.PollInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task LookAsync(OciLayoutStore store, bool announce, CancellationToken ct)
    {
        foreach (var index in Directory.EnumerateFiles(store.Root, "index.json", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 8 }).Take(MaxRepositories))
        {
            var name = Path.GetRelativePath(store.Root, Path.GetDirectoryName(index)!).Replace(Path.DirectorySeparatorChar, '/');
            if (!Reference.IsValidRepository(name)) continue;
            var changed = File.GetLastWriteTimeUtc(index);
            if (_seen.TryGetValue(name, out var seen) && seen.Changed == changed) continue;

            var repository = store.Open(name);
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

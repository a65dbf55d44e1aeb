using Doras.Delta.Algorithms;
using Doras.Delta.Images;
using Doras.Oci.Content;
using Doras.Server.Deltas;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>
/// Builds the deltas to each newly published version from the <c>Precompute:PreviousVersions</c> versions made
/// before it, in the background and through the same build queue and claims as devices' requests, so the first
/// device to ask gets 200 at once. A full queue skips the rest (devices' requests build them on demand), and so
/// does anything that cannot be a delta (another kind of artifact, no server push access).
/// </summary>
public sealed class Precomputer(PublishedVersions published, VersionHistory history, ArtifactStores stores, DeltaAlgorithms algorithms,
    DeltaBuildCoordinator builds, IOptions<PrecomputeOptions> options, ILogger<Precomputer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var version in published.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try { await PlanAsync(version, stoppingToken).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Could not precompute the deltas to {Repository}@{Digest}; devices' requests build them on demand", version.Repository, version.Manifest);
            }
        }
    }

    private async Task PlanAsync(PublishedVersion version, CancellationToken ct)
    {
        var count = options.Value.PreviousVersions;
        if (count <= 0) return;
        var repository = stores.Server.Repository(version.Repository);
        if (await repository.TryResolveAsync(version.Manifest.ToString(), ct).ConfigureAwait(false) is not { } target) return;
        if (!await stores.ServerCanPushAsync(version.Repository, ct).ConfigureAwait(false))
        {
            logger.LogWarning("Not precomputing deltas to {Repository}@{Digest}: this server's credentials may not push there", version.Repository, version.Manifest);
            return;
        }
        var previous = await history.PreviousAsync(repository, target, count, ct).ConfigureAwait(false);
        if (previous.Count == 0) return;
        var name = stores.Name(version.Repository);
        // Images are planned as devices ask for them: an image delta whose layers use the configured algorithms.
        var forImages = options.Value.EffectiveAlgorithms.Prepend(ImageDeltaFile.AlgorithmName).ToList();
        foreach (var from in previous)
        {
            DeltaSubject subject;
            try { subject = await DeltaPlans.ReadAsync(repository, from, target, $"version {version.Repository}@{from.Digest}", $"version {version.Repository}@{version.Manifest}", ct).ConfigureAwait(false); }
            catch (Exception e) when (e is Delta.Artifacts.IncompatibleArtifactException or InvalidDataException)
            {
                // One earlier version that has no delta to this one (another kind, unreadable) does not stop the others.
                logger.LogInformation("Not precomputing a delta from {Repository}@{From}: {Reason}", version.Repository, from.Digest, e.Message);
                continue;
            }
            if (DeltaPlans.SameContent(subject) || DeltaPlans.Choose(algorithms, subject, subject is ImagePair ? forImages : options.Value.EffectiveAlgorithms).Plan is not { } plan) continue;
            var key = new DeltaKey(repository.Name, from.Digest, target.Digest, plan.KeyName);
            var state = builds.GetOrStart(new DeltaJob(key, repository, name, subject, target, plan.Candidates));
            if (state is BuildState.Busy)
            {
                logger.LogWarning("Build queue full: not precomputing {Key} and the older ones; devices' requests build them on demand", key);
                return;
            }
            logger.LogInformation("Precomputing delta {Key}: {State}", key, state.GetType().Name);
        }
    }
}

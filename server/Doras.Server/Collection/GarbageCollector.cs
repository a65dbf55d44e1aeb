using System.Net;
using System.Text.Json.Serialization;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Deltas;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Collection;

/// <summary>One delta tag garbage collection deleted (or would delete, in a dry run).</summary>
public sealed record GcDeletion(
    [property: JsonPropertyName("repository")] string Repository,
    [property: JsonPropertyName("tag")] string Tag,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("reason")] string Reason);

/// <summary>What one run of garbage collection did.</summary>
public sealed class GcReport
{
    [JsonPropertyName("dry_run")] public bool DryRun { get; init; }
    [JsonPropertyName("repositories")] public List<string> Repositories { get; } = [];
    [JsonPropertyName("deleted")] public List<GcDeletion> Deleted { get; } = [];
    [JsonPropertyName("kept")] public int Kept { get; set; }
    [JsonPropertyName("blobs_removed")] public int BlobsRemoved { get; set; }
    [JsonPropertyName("blob_bytes_removed")] public long BlobBytesRemoved { get; set; }
    /// <summary>Embedded store: each blob removed (in a dry run: that would be), as <c>repository@digest</c>.</summary>
    [JsonPropertyName("removed_blobs")] public List<string> RemovedBlobs { get; } = [];
    /// <summary>Embedded store: repositories whose blobs were all kept, and why (a manifest gc cannot read).</summary>
    [JsonPropertyName("blob_sweeps_skipped")] public List<string> BlobSweepsSkipped { get; } = [];
    [JsonPropertyName("errors")] public List<string> Errors { get; } = [];
}

/// <summary>
/// Garbage collection of deltas (<see cref="RetentionPolicy"/>), per repository: reads its versions and delta tags,
/// decides, and deletes. Registry mode deletes through the registry API (manifest <c>DELETE</c> by digest; the
/// registry's own garbage collection frees the blobs; docker-registry needs <c>storage.delete.enabled: true</c>).
/// The embedded store removes the tags from <c>index.json</c>, then the blobs nothing refers to any more.
/// </summary>
public sealed class GarbageCollector(ArtifactStores stores, DeltaUsage usage, ReadyAnswers answers, GcMetrics metrics,
    IOptions<GcOptions> gcOptions, IOptions<DeltaOptions> deltaOptions, TimeProvider time, ILogger<GarbageCollector> logger)
{
    private readonly GcOptions _gc = gcOptions.Value;
    private readonly RetentionPolicy _policy = new(gcOptions.Value, deltaOptions.Value);

    public async Task<GcReport> RunAsync(bool dryRun, CancellationToken ct)
    {
        var report = new GcReport { DryRun = dryRun };
        foreach (var repository in await RepositoriesAsync(report, ct).ConfigureAwait(false))
        {
            report.Repositories.Add(repository);
            try { await CollectAsync(repository, dryRun, report, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                report.Errors.Add($"{repository}: {Describe(e)}");
                logger.LogWarning(e, "Garbage collection of {Repository} failed", repository);
            }
        }
        if (!dryRun && report.Deleted.Count > 0) answers.Clear(); // no answer may name a deleted delta
        logger.LogInformation("Garbage collection{DryRun}: {Deleted} delta tags deleted, {Kept} kept, {Blobs} blobs ({Bytes} bytes) removed in {Repositories} repositories, {Errors} errors",
            dryRun ? " (dry run)" : "", report.Deleted.Count, report.Kept, report.BlobsRemoved, report.BlobBytesRemoved, report.Repositories.Count, report.Errors.Count);
        return report;
    }

    private async Task CollectAsync(string name, bool dryRun, GcReport report, CancellationToken ct)
    {
        var repository = stores.Server.Repository(name);
        var tagged = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
            if (await repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is { } descriptor) tagged[tag] = descriptor;

        // Versions are every tag but the server's own (_delta-…, _doras-…); newest first by their creation time.
        var versions = new Dictionary<Digest, DateTimeOffset>();
        foreach (var (tag, descriptor) in tagged.Where(t => !ReservedTags.IsReserved(t.Key)))
        {
            if (versions.ContainsKey(descriptor.Digest) || !MediaTypes.IsManifest(descriptor.MediaType)) continue;
            var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
            versions[descriptor.Digest] = DeltaEntry.Of(tag, descriptor.Digest, manifest).Created;
        }
        var latest = versions.OrderByDescending(v => v.Value).Take(Math.Max(0, _gc.KeepLatestVersions)).Select(v => v.Key).ToHashSet();
        var lastAsked = await usage.ReadAsync(name, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();

        var doomed = new List<GcDeletion>();
        var versionDigests = versions.Keys.ToHashSet();
        foreach (var (tag, descriptor) in tagged.Where(t => t.Key.StartsWith(ReservedTags.DeltaPrefix, StringComparison.Ordinal)))
        {
            if (await ReadDeltaAsync(repository, descriptor, ct).ConfigureAwait(false) is not { } manifest)
            {
                logger.LogInformation("Garbage collection leaves {Repository}:{Tag} ({Digest}) alone: it is not a Doras delta or placeholder", name, tag, descriptor.Digest);
                continue;
            }
            var reason = _policy.Decide(DeltaEntry.Of(tag, descriptor.Digest, manifest), latest, versionDigests, lastAsked, now);
            if (reason is null) report.Kept++;
            else doomed.Add(new GcDeletion(name, tag, descriptor.Digest.ToString(), reason));
        }

        foreach (var deletion in doomed)
        {
            if (!dryRun) await DeleteAsync(repository, deletion, tagged, doomed, ct).ConfigureAwait(false);
            report.Deleted.Add(deletion);
            metrics.GcDeleted.WithLabels(deletion.Reason).Inc();
            if (deletion.Reason == GcReasons.ExpiredPlaceholder) metrics.ExpiredDummies.Inc();
        }
        if (repository is IGarbageSweeper sweeper)
        {
            // The deleted tags count as gone in a dry run too, so it reports the blobs they free.
            var untagged = doomed.Select(d => (d.Tag, Digest.Parse(d.Digest))).ToHashSet();
            var swept = await sweeper.SweepAsync(untagged, _gc.BlobGracePeriod, dryRun, ct).ConfigureAwait(false);
            if (swept.SkippedBecause is { } why)
            {
                report.BlobSweepsSkipped.Add($"{name}: {why}");
                logger.LogWarning("Garbage collection kept every blob of {Repository}: {Reason}", name, why);
            }
            report.BlobsRemoved += swept.Removed.Count;
            report.BlobBytesRemoved += swept.Bytes;
            report.RemovedBlobs.AddRange(swept.Removed.Select(r => $"{name}@{r.Digest}"));
        }
    }

    /// <summary>The manifest at a <c>_delta-</c> tag, if the server wrote it (<see cref="DeltaRecords.IsDeltaOrPlaceholder"/>); null for anyone else's.</summary>
    private static async Task<ImageManifest?> ReadDeltaAsync(IOciRepository repository, Descriptor descriptor, CancellationToken ct)
    {
        if (!MediaTypes.IsManifest(descriptor.MediaType)) return null;
        ImageManifest manifest;
        try { manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false); }
        catch (InvalidDataException) { return null; } // too large or not a manifest: not one the server wrote
        return DeltaRecords.IsDeltaOrPlaceholder(manifest) ? manifest : null;
    }

    private static async Task DeleteAsync(IOciRepository repository, GcDeletion deletion, Dictionary<string, Descriptor> tagged, List<GcDeletion> doomed, CancellationToken ct)
    {
        switch (repository)
        {
            case IUntagger untagger:
                // Only if it still holds what was judged: a placeholder a builder wrote since stays.
                await untagger.UntagAsync(deletion.Tag, Digest.Parse(deletion.Digest), ct).ConfigureAwait(false);
                break;
            case IManifestDeleter deleter:
                // A manifest DELETE removes every tag on it: only when all of them go.
                var digest = Digest.Parse(deletion.Digest);
                var tagsOnIt = tagged.Where(t => t.Value.Digest == digest).Select(t => t.Key);
                if (!tagsOnIt.All(t => doomed.Any(d => d.Tag == t))) return;
                try { await deleter.DeleteManifestAsync(digest, ct).ConfigureAwait(false); }
                catch (NotFoundException) { } // deleted with an earlier tag on it, or by another instance
                break;
            default:
                throw new NotSupportedException($"cannot delete from a {repository.GetType().Name}");
        }
    }

    private async Task<IReadOnlyList<string>> RepositoriesAsync(GcReport report, CancellationToken ct)
    {
        if (_gc.Repositories.Count > 0) return _gc.Repositories;
        if (stores.Server is not IRepositoryLister lister) return [];
        try
        {
            var names = new List<string>();
            await foreach (var repository in lister.ListRepositoriesAsync(ct).ConfigureAwait(false)) names.Add(repository);
            return names;
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // Naming repositories would not help: every request to the registry fails the same way.
            report.Errors.Add($"the TLS handshake with the registry failed ({e.Message}); if it speaks plain HTTP, set Registry:PlainHttp=true");
            return [];
        }
        catch (HttpRequestException e)
        {
            report.Errors.Add($"the registry's catalog could not be read ({Describe(e)}): name the repositories in Gc:Repositories");
            return [];
        }
    }

    private static string Describe(Exception e) => e switch
    {
        HttpRequestException { StatusCode: HttpStatusCode.MethodNotAllowed } =>
            "the registry does not allow deleting manifests (405); docker-registry needs storage.delete.enabled: true",
        HttpRequestException { StatusCode: { } status } => $"the registry answered {(int)status} {status}",
        _ => e.Message,
    };
}

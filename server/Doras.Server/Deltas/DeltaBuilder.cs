using System.Diagnostics;
using System.Globalization;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>What a build needs: where, between which artifacts, with which algorithms (several: keep the smallest).</summary>
/// <param name="ImageName">The repository as clients name it (with the registry host in registry mode).</param>
public sealed record DeltaJob(DeltaKey Key, IOciRepository Repository, string ImageName, ArtifactLayer From, ArtifactLayer To, Descriptor ToManifest, IReadOnlyList<IDeltaAlgorithm> Candidates);

/// <summary>
/// Builds one delta: downloads both versions' contents (verified), encodes the delta, checks that it
/// reproduces the target exactly, and stores it as an OCI artifact at the key's deterministic tag.
/// </summary>
public sealed class DeltaBuilder(IOptions<DeltaOptions> options, ScratchSpace scratch, BuildEstimates estimates, DeltaMetrics metrics, ILogger<DeltaBuilder> logger)
{
    private long _started;

    /// <summary>How many builds have started in this process (each one is a real computation).</summary>
    public long BuildsStarted => Interlocked.Read(ref _started);

    /// <param name="beforeStoring">Called before the delta's manifest is tagged (the claim's heartbeat stops there, so no renewal overwrites the delta).</param>
    public async Task<Descriptor> BuildAsync(DeltaJob job, CancellationToken ct, Func<Task>? beforeStoring = null)
    {
        Interlocked.Increment(ref _started);
        var stopwatch = Stopwatch.StartNew();
        logger.LogInformation("Building delta {Key}", job.Key);
        try
        {
            // Inside the try: a scratch space that cannot be made is this instance's failure, logged here with its path.
            using var scratchDirectory = scratch.Create();
            var work = scratchDirectory.Path;
            var oldPath = Path.Combine(work, "old");
            var newPath = Path.Combine(work, "new");
            await job.From.DownloadContentAsync(job.Repository, oldPath, ct).ConfigureAwait(false);
            await job.To.DownloadContentAsync(job.Repository, newPath, ct).ConfigureAwait(false);
            var oldInput = new DeltaInput(oldPath, job.From.ContentDigest, job.From.ContentSize);
            var newInput = new DeltaInput(newPath, job.To.ContentDigest, job.To.ContentSize);

            // The same choice as `doras-delta diff --algorithm auto`: each candidate while the budget lasts, the smallest verified.
            var (smallest, built) = await new SmallestDelta(options.Value.AutoBudget)
                .BuildAsync(job.Candidates, oldInput, newInput, work, new BuildLog(job.Key, estimates, oldInput.Size + newInput.Size, logger), ct).ConfigureAwait(false);
            var (algorithm, deltaPath, deltaDigest, deltaSize) = (smallest.Algorithm, smallest.Path, smallest.Digest, smallest.Size);

            var layer = new Descriptor
            {
                MediaType = algorithm.MediaType,
                Digest = deltaDigest,
                Size = deltaSize,
                Annotations = new Dictionary<string, string>
                {
                    [DorasAnnotations.ContentDigest] = job.To.ContentDigest.ToString(),
                    [DorasAnnotations.ContentSize] = job.To.ContentSize.ToString(CultureInfo.InvariantCulture),
                },
            };
            await using (var blob = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await job.Repository.PushAsync(layer, blob, ct).ConfigureAwait(false);
            await job.Repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);

            var from = $"{job.ImageName}@{job.Key.From}";
            var to = $"{job.ImageName}@{job.Key.To}";
            var manifest = new ImageManifest
            {
                ArtifactType = DorasMediaTypes.Delta,
                Config = Descriptor.EmptyJson,
                Layers = [layer],
                Annotations = new Dictionary<string, string>
                {
                    [DorasAnnotations.DeltaFrom] = from,
                    [DorasAnnotations.DeltaTo] = to,
                    [DorasAnnotations.DeltaAlgorithm] = algorithm.Name,
                    [DorasAnnotations.DeltaCandidates] = string.Join(" ", built.Select(b => $"{b.Algorithm.Name}={b.Size}")),
                    [DorasAnnotations.GoDeltaFrom] = from,
                    [DorasAnnotations.GoDeltaTo] = to,
                    [Annotations.Created] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                },
            };
            if (beforeStoring is not null) await beforeStoring().ConfigureAwait(false);
            var descriptor = await job.Repository.PushManifestAsync(manifest, [job.Key.Tag], ct).ConfigureAwait(false);
            metrics.RecordBuild(algorithm.Name, algorithm.MediaType, success: true, stopwatch.Elapsed);
            logger.LogInformation(
                "Built delta {Key} with {Algorithm}: {DeltaBytes} bytes for a {TargetBytes}-byte target ({Percent:0.0}% of the full {FullBytes}-byte download) in {ElapsedMs} ms",
                job.Key, algorithm.Name, deltaSize, job.To.ContentSize, 100.0 * deltaSize / Math.Max(1, job.To.Layer.Size), job.To.Layer.Size, stopwatch.ElapsedMilliseconds);
            return descriptor;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Building delta {Key} failed after {ElapsedMs} ms", job.Key, stopwatch.ElapsedMilliseconds);
            metrics.RecordBuild(job.Key.Algorithm, null, success: false, stopwatch.Elapsed);
            throw;
        }
    }

    /// <summary>Logs what happens to each candidate and feeds the build-time estimates.</summary>
    private sealed class BuildLog(DeltaKey key, BuildEstimates estimates, long inputBytes, ILogger logger) : ISmallestDeltaObserver
    {
        public void Built(BuiltDelta delta) => estimates.Record(delta.Algorithm.Name, inputBytes, delta.Elapsed);

        public void Refused(IDeltaAlgorithm algorithm, string reason) =>
            logger.LogInformation("Delta {Key}: {Algorithm} does not apply here ({Reason})", key, algorithm.Name, reason);

        public void Failed(IDeltaAlgorithm algorithm, Exception error) =>
            logger.LogWarning(error, "Delta {Key}: {Algorithm} failed; using the next smallest candidate", key, algorithm.Name);

        public void Outclassed(IDeltaAlgorithm algorithm, BuiltDelta by) =>
            logger.LogInformation("Delta {Key}: {Algorithm} left out: {By}'s {Bytes}-byte delta outclasses it", key, algorithm.Name, by.Algorithm.Name, by.Size);

        public void NotTried(IDeltaAlgorithm algorithm, TimeSpan budget) =>
            logger.LogInformation("Delta {Key}: build budget {Budget} spent; not trying {Algorithm}", key, budget, algorithm.Name);
    }
}

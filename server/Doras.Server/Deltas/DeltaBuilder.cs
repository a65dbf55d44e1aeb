using System.Diagnostics;
using System.Globalization;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Doras.Server.Observability;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>What a build needs: where, between which artifacts, with which algorithms (several: keep the smallest).</summary>
/// <param name="ImageName">The repository as clients name it (with the registry host in registry mode).</param>
public sealed record DeltaJob(DeltaKey Key, IOciRepository Repository, string ImageName, ArtifactLayer From, ArtifactLayer To, Descriptor ToManifest, IReadOnlyList<IDeltaAlgorithm> Candidates);

/// <summary>
/// Builds one delta: downloads both versions' contents (verified), encodes the delta, checks that it
/// reproduces the target exactly, and stores it as an OCI artifact at the key's deterministic tag.
/// </summary>
public sealed class DeltaBuilder(IOptions<DeltaOptions> options, ScratchSpace scratch, BuildEstimates estimates, DorasMetrics metrics, ILogger<DeltaBuilder> logger)
{
    private long _started;

    /// <summary>How many builds have started in this process (each one is a real computation).</summary>
    public long BuildsStarted => Interlocked.Read(ref _started);

    /// <param name="beforeStoring">Called before the delta's manifest is tagged (the claim's heartbeat stops there, so no renewal overwrites the delta).</param>
    public async Task<Descriptor> BuildAsync(DeltaJob job, CancellationToken ct, Func<Task>? beforeStoring = null)
    {
        Interlocked.Increment(ref _started);
        var stopwatch = Stopwatch.StartNew();
        using var scratchDirectory = scratch.Create();
        var work = scratchDirectory.Path;
        logger.LogInformation("Building delta {Key}", job.Key);
        try
        {
            var oldPath = Path.Combine(work, "old");
            var newPath = Path.Combine(work, "new");
            await job.From.DownloadContentAsync(job.Repository, oldPath, ct).ConfigureAwait(false);
            await job.To.DownloadContentAsync(job.Repository, newPath, ct).ConfigureAwait(false);
            var oldInput = new DeltaInput(oldPath, job.From.ContentDigest, job.From.ContentSize);
            var newInput = new DeltaInput(newPath, job.To.ContentDigest, job.To.ContentSize);

            // Each candidate in turn (cheapest first), while the budget lasts; the smallest one is kept.
            var built = new List<(IDeltaAlgorithm Algorithm, string Path, Digest Digest, long Size)>();
            foreach (var candidate in job.Candidates)
            {
                if (built.Count > 0 && stopwatch.Elapsed > options.Value.AutoBudget)
                {
                    logger.LogInformation("Delta {Key}: build budget {Budget} spent; not trying {Algorithm}", job.Key, options.Value.AutoBudget, candidate.Name);
                    break;
                }
                var path = Path.Combine(work, "delta-" + candidate.Name);
                await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                var hashing = new HashingWriteStream(file);
                var encoding = Stopwatch.StartNew();
                try
                {
                    await candidate.EncodeAsync(oldInput, newInput, hashing, ct).ConfigureAwait(false);
                    estimates.Record(candidate.Name, oldInput.Size + newInput.Size, encoding.Elapsed);
                }
                catch (IncompatibleArtifactException e) when (job.Candidates.Count > 1)
                {
                    logger.LogInformation("Delta {Key}: {Algorithm} does not apply here ({Reason})", job.Key, candidate.Name, e.Message);
                    continue;
                }
                built.Add((candidate, path, hashing.Digest, hashing.BytesWritten));
            }
            if (built.Count == 0) throw new IncompatibleArtifactException("none of the candidate algorithms can make this delta");
            var (algorithm, deltaPath, deltaDigest, deltaSize) = built.MinBy(b => b.Size);

            await VerifyRoundTripAsync(algorithm, oldInput, deltaPath, job.To.Target, ct).ConfigureAwait(false);

            var layer = new Descriptor
            {
                MediaType = algorithm.MediaType,
                Digest = deltaDigest,
                Size = deltaSize,
                Annotations = new Dictionary<string, string>
                {
                    [Annotations.ContentDigest] = job.To.ContentDigest.ToString(),
                    [Annotations.ContentSize] = job.To.ContentSize.ToString(CultureInfo.InvariantCulture),
                },
            };
            await using (var blob = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await job.Repository.PushAsync(layer, blob, ct).ConfigureAwait(false);
            await job.Repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);

            var from = $"{job.ImageName}@{job.Key.From}";
            var to = $"{job.ImageName}@{job.Key.To}";
            var manifest = new ImageManifest
            {
                ArtifactType = MediaTypes.DorasDelta,
                Config = Descriptor.EmptyJson,
                Layers = [layer],
                Annotations = new Dictionary<string, string>
                {
                    [Annotations.DeltaFrom] = from,
                    [Annotations.DeltaTo] = to,
                    [Annotations.DeltaAlgorithm] = algorithm.Name,
                    [Annotations.DeltaCandidates] = string.Join(" ", built.Select(b => $"{b.Algorithm.Name}={b.Size}")),
                    [Annotations.GoDeltaFrom] = from,
                    [Annotations.GoDeltaTo] = to,
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

    /// <summary>A delta is only stored once applying it gives the target, digest for digest.</summary>
    private static async Task VerifyRoundTripAsync(IDeltaAlgorithm algorithm, DeltaInput oldInput, string deltaPath, DeltaTarget target, CancellationToken ct)
    {
        await using var delta = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        using var hashing = new HashingWriteStream(Stream.Null);
        await algorithm.ApplyAsync(oldInput, delta, hashing, target, ct).ConfigureAwait(false);
        var produced = hashing.Digest;
        if (produced != target.Digest || hashing.BytesWritten != target.Size)
            throw new InvalidOperationException($"the delta reproduces {produced} ({hashing.BytesWritten} bytes) instead of {target.Digest} ({target.Size} bytes)");
    }
}

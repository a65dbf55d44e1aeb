using System.Diagnostics;
using System.Globalization;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Images;
using Doras.Delta.Vocabulary;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>
/// Builds one delta: downloads both versions' contents (verified), encodes the delta, checks that it
/// reproduces the target exactly, and stores it as an OCI artifact at the key's deterministic tag.
/// </summary>
public sealed class DeltaBuilder(IOptions<DeltaOptions> options, ScratchSpace scratch, BuildEstimates estimates, DeltaMetrics metrics, TimeProvider time, ILogger<DeltaBuilder> logger)
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
        // The build (downloads, candidates, checks; not the store) ends at Delta:BuildTimeout, whatever its inputs.
        using var deadline = new CancellationTokenSource(options.Value.BuildTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        var storing = false;
        try
        {
            // Inside the try: a scratch space that cannot be made is this instance's failure, logged here with its path.
            using var scratchDirectory = scratch.Create();
            var built = job.Subject switch
            {
                ArtifactPair artifacts => await BuildArtifactDeltaAsync(job, artifacts, scratchDirectory.Path, linked.Token).ConfigureAwait(false),
                ImagePair images => await BuildImageDeltaAsync(job, images, scratchDirectory.Path, linked.Token).ConfigureAwait(false),
                _ => throw new InvalidOperationException($"no builder for {job.Subject.GetType().Name}"),
            };
            // Not under the deadline: a store stopped after the registry took the tag would record a failure over a good delta.
            deadline.Token.ThrowIfCancellationRequested();
            storing = true;
            var descriptor = await StoreAsync(job, built, beforeStoring, ct).ConfigureAwait(false);
            metrics.RecordBuild(built.AlgorithmName, built.MediaType, success: true, stopwatch.Elapsed);
            logger.LogInformation(
                "Built delta {Key} with {Algorithm}: {DeltaBytes} bytes ({Percent:0.0}% of the full {FullBytes}-byte download) in {ElapsedMs} ms",
                job.Key, built.AlgorithmName, built.Size, 100.0 * built.Size / Math.Max(1, job.Subject.FullDownloadBytes), job.Subject.FullDownloadBytes, stopwatch.ElapsedMilliseconds);
            return descriptor;
        }
        // Whatever the work stopped with (a codec cut short says so in its own words), past the deadline it is the timeout.
        catch (Exception e) when (!storing && deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Building delta {Key} stopped after {ElapsedMs} ms: Delta:BuildTimeout ({Timeout}) passed", job.Key, stopwatch.ElapsedMilliseconds, options.Value.BuildTimeout);
            metrics.RecordBuild(job.Key.Algorithm, null, success: false, stopwatch.Elapsed);
            throw new BuildTimeoutException(options.Value.BuildTimeout);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Building delta {Key} failed after {ElapsedMs} ms", job.Key, stopwatch.ElapsedMilliseconds);
            metrics.RecordBuild(job.Key.Algorithm, null, success: false, stopwatch.Elapsed);
            throw;
        }
    }

    /// <summary>A built delta file, before it is stored: what made it and what its manifest says about it.</summary>
    private sealed record BuiltFile(string AlgorithmName, string MediaType, string Path, Digest Digest, long Size, Dictionary<string, string> LayerAnnotations, Dictionary<string, string> ManifestAnnotations);

    private async Task<BuiltFile> BuildArtifactDeltaAsync(DeltaJob job, ArtifactPair artifacts, string work, CancellationToken ct)
    {
        var oldPath = Path.Combine(work, "old");
        var newPath = Path.Combine(work, "new");
        await artifacts.From.DownloadContentAsync(job.Repository, oldPath, ct).ConfigureAwait(false);
        await artifacts.To.DownloadContentAsync(job.Repository, newPath, ct).ConfigureAwait(false);
        var oldInput = new DeltaInput(oldPath, artifacts.From.ContentDigest, artifacts.From.ContentSize);
        var newInput = new DeltaInput(newPath, artifacts.To.ContentDigest, artifacts.To.ContentSize);

        // The same choice as `doras-delta diff --algorithm auto`: each candidate while the budget lasts, the smallest verified.
        var (smallest, built) = await new SmallestDelta(options.Value.AutoBudget, time)
            .BuildAsync(job.Candidates, oldInput, newInput, work, new BuildLog(job.Key, estimates, oldInput.Size + newInput.Size, logger), ct).ConfigureAwait(false);
        return new BuiltFile(smallest.Algorithm.Name, smallest.Algorithm.MediaType, smallest.Path, smallest.Digest, smallest.Size,
            new Dictionary<string, string>
            {
                [DorasAnnotations.ContentDigest] = artifacts.To.ContentDigest.ToString(),
                [DorasAnnotations.ContentSize] = artifacts.To.ContentSize.ToString(CultureInfo.InvariantCulture),
            },
            new Dictionary<string, string> { [DorasAnnotations.DeltaCandidates] = string.Join(" ", built.Select(b => $"{b.Algorithm.Name}={b.Size}")) });
    }

    /// <summary>An image delta: per layer of the new image, held, rebuilt from the old layers by the smallest candidate, or fetched.</summary>
    private async Task<BuiltFile> BuildImageDeltaAsync(DeltaJob job, ImagePair images, string work, CancellationToken ct)
    {
        var path = Path.Combine(work, "image-delta");
        // One budget for the whole image; its per-layer builds do not feed the estimates (their sizes are not the image's).
        var encoder = new ImageDeltaEncoder(job.Candidates, options.Value.AutoBudget, options.Value.MaxImageLayerBytes, time, observer: new BuildLog(job.Key, null, 0, logger));
        ImageDeltaSummary summary;
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            summary = await encoder.WriteAsync(job.Repository, images.From, images.To, work, file, ct).ConfigureAwait(false);
            await file.FlushAsync(ct).ConfigureAwait(false);
        }
        Digest digest;
        long size;
        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            (digest, size) = (await Digest.ComputeAsync(file, Digest.Sha256, ct).ConfigureAwait(false), file.Length);
        logger.LogInformation("Image delta {Key}: layers {Layers}; {Fetched} bytes of layers left for the device to download", job.Key, summary.Describe(), summary.FetchedBytes);
        return new BuiltFile(ImageDeltaFile.AlgorithmName, ImageDeltaFile.MediaType, path, digest, size, [],
            new Dictionary<string, string>
            {
                [DorasAnnotations.ImageDeltaLayers] = summary.Describe(),
                [DorasAnnotations.ImageDeltaFetchBytes] = summary.FetchedBytes.ToString(CultureInfo.InvariantCulture),
            });
    }

    /// <summary>Pushes the delta blob and its manifest, tagged with the key's tag (the tag last: it is what other instances look for).</summary>
    private static async Task<Descriptor> StoreAsync(DeltaJob job, BuiltFile built, Func<Task>? beforeStoring, CancellationToken ct)
    {
        var layer = new Descriptor { MediaType = built.MediaType, Digest = built.Digest, Size = built.Size, Annotations = built.LayerAnnotations.Count > 0 ? built.LayerAnnotations : null };
        await using (var blob = new FileStream(built.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
            await job.Repository.PushAsync(layer, blob, ct).ConfigureAwait(false);
        await job.Repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);

        var from = $"{job.ImageName}@{job.Key.From}";
        var to = $"{job.ImageName}@{job.Key.To}";
        var annotations = new Dictionary<string, string>(built.ManifestAnnotations)
        {
            [DorasAnnotations.DeltaFrom] = from,
            [DorasAnnotations.DeltaTo] = to,
            [DorasAnnotations.DeltaAlgorithm] = built.AlgorithmName,
            [DorasAnnotations.GoDeltaFrom] = from,
            [DorasAnnotations.GoDeltaTo] = to,
            [Annotations.Created] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        };
        var manifest = new ImageManifest { ArtifactType = DorasMediaTypes.Delta, Config = Descriptor.EmptyJson, Layers = [layer], Annotations = annotations };
        if (beforeStoring is not null) await beforeStoring().ConfigureAwait(false);
        return await job.Repository.PushManifestAsync(manifest, [job.Key.Tag], ct).ConfigureAwait(false);
    }

    /// <summary>Logs what happens to each candidate and feeds the build-time estimates.</summary>
    private sealed class BuildLog(DeltaKey key, BuildEstimates? estimates, long inputBytes, ILogger logger) : ISmallestDeltaObserver
    {
        public void Built(BuiltDelta delta) => estimates?.Record(delta.Algorithm.Name, inputBytes, delta.Elapsed);

        public void Refused(IDeltaAlgorithm algorithm, string reason) =>
            logger.LogInformation("Delta {Key}: {Algorithm} does not apply here ({Reason})", key, algorithm.Name, reason);

        public void Failed(IDeltaAlgorithm algorithm, Exception error) =>
            logger.LogWarning(error, "Delta {Key}: {Algorithm} failed; using the next smallest candidate", key, algorithm.Name);

        public void Outclassed(IDeltaAlgorithm algorithm, BuiltDelta by) =>
            logger.LogInformation("Delta {Key}: {Algorithm} left out: {By}'s {Bytes}-byte delta outclasses it", key, algorithm.Name, by.Algorithm.Name, by.Size);

        public void Probed(IDeltaAlgorithm algorithm, BuiltDelta probe, BuiltDelta by) =>
            logger.LogInformation("Delta {Key}: {Algorithm} kept at its probe ({ProbeBytes} bytes): {By}'s {Bytes}-byte delta leaves its own setting no chance",
                key, algorithm.Name, probe.Size, by.Algorithm.Name, by.Size);

        public void NotTried(IDeltaAlgorithm algorithm, TimeSpan budget) =>
            logger.LogInformation("Delta {Key}: build budget {Budget} spent; not trying {Algorithm}", key, budget, algorithm.Name);

        public void CutOff(IDeltaAlgorithm algorithm, TimeSpan budget) =>
            logger.LogInformation("Delta {Key}: build budget {Budget} spent while {Algorithm} was built; it was stopped and the deltas built before it stand", key, budget, algorithm.Name);
    }
}

/// <summary>
/// A build ran past <c>Delta:BuildTimeout</c> and was stopped. For clients it is a delta the server cannot make (406,
/// download the full version) rather than its failure (500): the same pair would take as long again. Like every failed
/// build it is retried after <c>Delta:FailureRetention</c>, doubled for each failure in a row (<see cref="DeltaOptions.FailureRetentionAfter"/>).
/// </summary>
public sealed class BuildTimeoutException(TimeSpan timeout)
    : Exception($"building this delta took longer than the server allows (Delta:BuildTimeout, {timeout}); download the full version"), IFailure
{
    public FailureKind Kind => FailureKind.Incompatible;
}

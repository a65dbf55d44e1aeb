using System.IO.Pipelines;
using System.Net.Http.Headers;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Images;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.EdgeClient.Updates.Download;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Microsoft.Extensions.Logging;

namespace Doras.EdgeClient.Images;

/// <summary>What an image delta put into the layout.</summary>
public sealed record ImageDeltaOutcome(long BytesDownloaded, int Rebuilt, int Fetched, int Held, IReadOnlySet<Digest> CheckedLayers);

/// <summary>
/// The device's side of an image delta: asks the server for the delta from the image the layout has to the target,
/// downloads it (verified), rebuilds the old image's base (<see cref="ImageDeltaBase"/>, checked against the digest
/// the delta names), and puts every blob of the new image into the layout: layers it holds stay, rebuilt layers are
/// made from the base, checked against their diff_id, compressed back and checked against their digest, the others
/// are downloaded; then the target's config and manifest as the registry sent them. Nothing is tagged here: the
/// caller moves the tag once every blob is in, so a failure leaves the old image as it was. Failures that a plain
/// pull would not have (no room for the base, an old layer that cannot be read back) are
/// <see cref="IncompatibleArtifactException"/>, so the caller downloads the changed layers instead.
/// </summary>
internal sealed class ImageDeltaInstaller(DeltaClient client, DeltaAlgorithms algorithms, ILogger log)
{
    /// <summary>The algorithms a device asks the server for: an image delta, with the per-layer algorithms it can apply.</summary>
    public static IReadOnlyList<string> AcceptedAlgorithms { get; } = [ImageDeltaFile.AlgorithmName, .. DeltaRequest.DefaultAlgorithms];

    public async Task<ImageDeltaOutcome> InstallAsync(IReadOnlyOciRepository source, AuthenticationHeaderValue? authorization, OciLayoutRepository layout,
        Reference reference, OciImage current, OciImage target, ImageUpdateOptions options, CancellationToken ct)
    {
        var from = new Reference(reference.Registry, reference.Repository, null, current.Descriptor.Digest);
        var to = new Reference(reference.Registry, reference.Repository, null, target.Descriptor.Digest);
        var response = await client.WaitForDeltaAsync(new DeltaRequest(from, to, AcceptedAlgorithms, authorization), options.DeltaWait, ct).ConfigureAwait(false);
        if (Reference.Parse(response.ToImage).Digest != target.Descriptor.Digest)
            throw new InvalidDataException($"the server answered with a delta to {response.ToImage}, not to {target.Descriptor.Digest}");
        var (deltaSource, layer) = await client.ResolveDeltaLayerAsync(response, source, ct).ConfigureAwait(false);
        if (layer.MediaType != ImageDeltaFile.MediaType)
            throw new IncompatibleArtifactException($"the server's delta is a '{layer.MediaType}', not an image delta");
        if (layer.Size > options.MaxImageBytes)
            throw new ArtifactTooLargeException($"the image delta is {layer.Size} bytes, over the limit of {options.MaxImageBytes}");

        using var work = new WorkArea(layout.Directory);
        EnsureRoom(layout.Directory, layer.Size, options.ReserveBytes, "the image delta");
        var deltaPath = work.File("delta");
        await using (var download = await deltaSource.FetchAsync(layer, ct).ConfigureAwait(false))
        await using (var file = new FileStream(deltaPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await download.CopyToAsync(file, 1 << 16, ct).ConfigureAwait(false);
        long downloaded = layer.Size;

        await using var delta = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var (header, count) = ImageDeltaFile.ReadHeader(delta);
        if (header.From != current.Descriptor.Digest || header.To != target.Descriptor.Digest || count != target.Layers.Count)
            throw new CorruptDeltaException($"the image delta goes from {header.From} to {header.To} ({count} layers), not from {current.Descriptor.Digest} to {target.Descriptor.Digest} ({target.Layers.Count} layers)");
        var plans = await ReadPlansAsync(delta, count, target, layout, options, ct).ConfigureAwait(false);

        // Room for the base, the largest tar being rebuilt beside it, and every blob this layout does not hold yet.
        var newBlobs = target.Layers.Zip(plans).Where(p => p.Second is LayerPlan.Rebuilt or LayerPlan.Fetch).Sum(p => p.First.Descriptor.Size);
        var largestTar = plans.OfType<LayerPlan.Rebuilt>().Select(p => p.TarSize).DefaultIfEmpty(0).Max();
        var rebuilding = plans.Any(p => p is LayerPlan.Rebuilt);
        EnsureRoom(layout.Directory, checked((rebuilding ? header.BaseSize + largestTar : 0) + newBlobs), options.ReserveBytes, $"rebuilding {reference} from its image delta");
        DeltaInput? baseInput = null;
        if (rebuilding)
        {
            try
            {
                baseInput = await ImageDeltaBase.WriteAsync(work.File("base"), current.Layers.Where(l => !l.IsForeign)
                    .Select(l => (Func<CancellationToken, Task<Stream>>)(c => l.OpenUncompressedAsync(layout, options.MaxImageBytes, c))), ct, header.BaseSize).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not IncompatibleArtifactException)
            {
                // The old image cannot be read back (a damaged or missing layer): the changed layers in full still work.
                throw new IncompatibleArtifactException($"the old image's layers cannot be read to rebuild from ({e.Message})");
            }
            if (baseInput.Digest != header.BaseDigest || baseInput.Size != header.BaseSize)
                throw new CorruptDeltaException($"the old image's layers make the base {baseInput.Digest}, not the {header.BaseDigest} the delta was made from");
        }

        var checkedLayers = new HashSet<Digest>();
        var (rebuilt, fetched, held) = (0, 0, 0);
        for (var i = 0; i < count; i++)
        {
            var layerOf = target.Layers[i];
            var what = $"layer {i} ({layerOf.Descriptor.Digest}) of {reference}";
            switch (ImageDeltaFile.ReadLayer(delta))
            {
                case LayerPlan.Held:
                    held++;
                    break;
                case LayerPlan.Foreign:
                    break;
                case LayerPlan.Fetch:
                    if (!await layout.ExistsAsync(layerOf.Descriptor, ct).ConfigureAwait(false))
                    {
                        await using var blob = await source.FetchAsync(layerOf.Descriptor, ct).ConfigureAwait(false);
                        await layout.PushAsync(layerOf.Descriptor, blob, ct).ConfigureAwait(false);
                        downloaded += layerOf.Descriptor.Size;
                    }
                    fetched++;
                    break;
                case LayerPlan.Rebuilt plan:
                    if (await RebuildAsync(delta, plan, baseInput!, layerOf, layout, work, what, ct).ConfigureAwait(false)) checkedLayers.Add(layerOf.Descriptor.Digest);
                    rebuilt++;
                    break;
            }
        }
        // The config and manifest last, as the registry sent them (read and checked before the delta was asked for).
        await layout.PushAsync(target.Manifest.Config, new MemoryStream(target.Config.Bytes, writable: false), ct).ConfigureAwait(false);
        await layout.PushAsync(target.Descriptor, new MemoryStream(target.ManifestBytes, writable: false), ct).ConfigureAwait(false);
        log.LogInformation("Image delta to {Reference}: {Rebuilt} layer(s) rebuilt, {Fetched} downloaded, {Held} held; {Bytes} bytes downloaded",
            reference, rebuilt, fetched, held, downloaded);
        return new ImageDeltaOutcome(downloaded, rebuilt, fetched, held, checkedLayers);
    }

    /// <summary>Free space for the delta's work; too little is a reason for the plain pull, which needs less, not a failure.</summary>
    private static void EnsureRoom(string layout, long bytes, long reserve, string what)
    {
        try { FreeSpace.Ensure(layout, bytes, reserve, what); }
        catch (InsufficientStorageException e) { throw new IncompatibleArtifactException($"no room for the image delta's work: {e.Message}"); }
    }

    /// <summary>
    /// All layers' plans, read ahead (inner deltas and recipes skipped; what is kept holds no recipe) so that space is
    /// checked and each plan is checked against its layer before anything is written: a held layer must be in the
    /// layout (or made by an earlier layer of the same digest), foreign exactly where the layer is, sizes within the
    /// limits, algorithms ones this device applies. The stream is put back.
    /// </summary>
    private async Task<List<LayerPlan>> ReadPlansAsync(FileStream delta, int count, OciImage target, OciLayoutRepository layout, ImageUpdateOptions options, CancellationToken ct)
    {
        var start = delta.Position;
        var plans = new List<LayerPlan>(count);
        var coming = new HashSet<Digest>();
        for (var i = 0; i < count; i++)
        {
            var layer = target.Layers[i];
            var what = $"the image delta's plan for layer {i} ({layer.Descriptor.Digest})";
            var plan = ImageDeltaFile.ReadLayer(delta);
            if ((plan is LayerPlan.Foreign) != layer.IsForeign) throw new CorruptDeltaException($"{what} does not match the layer (foreign: {layer.IsForeign})");
            if (plan is LayerPlan.Held && !coming.Contains(layer.Descriptor.Digest) && !await layout.ExistsAsync(layer.Descriptor, ct).ConfigureAwait(false))
                throw new CorruptDeltaException($"{what} says this device holds it, but the layout does not");
            if (plan is LayerPlan.Rebuilt rebuilt)
            {
                if (rebuilt.TarSize > options.MaxImageBytes) throw new CorruptDeltaException($"{what} rebuilds a {rebuilt.TarSize}-byte tar, over the limit of {options.MaxImageBytes}");
                if (rebuilt.DeltaLength > delta.Length - delta.Position) throw new CorruptDeltaException("the image delta is truncated inside a layer's delta");
                if (algorithms.Find(rebuilt.Algorithm) is not { Profile.AppliesHere: true })
                    throw new IncompatibleArtifactException($"{what} needs '{rebuilt.Algorithm}', which this client cannot apply");
                delta.Seek(rebuilt.DeltaLength, SeekOrigin.Current);
                plan = rebuilt with { Recipe = new LayerRecipe.Uncompressed() }; // the recipe is read again when it is used
            }
            if (!layer.IsForeign) coming.Add(layer.Descriptor.Digest);
            plans.Add(plan);
        }
        if (delta.Position != delta.Length) throw new CorruptDeltaException("the image delta has bytes after its last layer");
        delta.Position = start;
        return plans;
    }

    /// <summary>
    /// One layer: its tar from the base by the inner delta (checked against the diff_id and the extractor's rules),
    /// compressed back straight into the layout's verified write (stopped at the first byte past the blob's size,
    /// checked against its digest). A blob the layout has already is left to the ordinary diff_id check (false).
    /// </summary>
    private async Task<bool> RebuildAsync(FileStream delta, LayerPlan.Rebuilt plan, DeltaInput baseInput, ImageLayer layer, OciLayoutRepository layout, WorkArea work, string what, CancellationToken ct)
    {
        var end = delta.Position + plan.DeltaLength;
        if (await layout.ExistsAsync(layer.Descriptor, ct).ConfigureAwait(false))
        {
            delta.Position = end;
            return false;
        }
        var algorithm = algorithms.Find(plan.Algorithm)!; // checked when the plans were read
        if (plan.Recipe.Compression != layer.Compression)
            throw new CorruptDeltaException($"{what} is {layer.Compression}, but the delta compresses it as {plan.Recipe.Compression}");
        var tarPath = work.File("layer.tar");
        await using (var inner = ImageDeltaFile.InnerDelta(delta, plan))
            await algorithm.ApplyToFileAsync(baseInput, inner, tarPath, new DeltaTarget(layer.DiffId, plan.TarSize), ct).ConfigureAwait(false);
        delta.Position = end;
        await using (var tar = new FileStream(tarPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            var diffId = await Digest.ComputeAsync(tar, Digest.Sha256, ct).ConfigureAwait(false);
            if (diffId != layer.DiffId || tar.Length != plan.TarSize)
                throw new CorruptDeltaException($"{what}: the rebuilt tar is {diffId}, but the config's diff_id says {layer.DiffId}");
            tar.Position = 0;
            await LayerTarCheck.CheckAsync(tar, what, ct).ConfigureAwait(false);
        }
        var pipe = new Pipe();
        var compress = Task.Run(async () =>
        {
            try
            {
                await using (var writer = pipe.Writer.AsStream(leaveOpen: true)) await plan.Recipe.WriteAsync(tarPath, writer, ct).ConfigureAwait(false);
                await pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        }, ct);
        try
        {
            await using var blob = pipe.Reader.AsStream(leaveOpen: true);
            await layout.PushAsync(layer.Descriptor, blob, ct).ConfigureAwait(false);
        }
        catch (DigestMismatchException e)
        {
            throw new CorruptDeltaException($"{what}: compressing the rebuilt tar did not give the published blob ({e.Message})", e);
        }
        finally
        {
            await pipe.Reader.CompleteAsync().ConfigureAwait(false); // a push that stopped early ends the compression too
            try { await compress.ConfigureAwait(false); }
            catch (Exception) when (!compress.IsCompletedSuccessfully) { } // its failure surfaced through the pipe, or the push's did
            File.Delete(tarPath);
        }
        return true;
    }

    /// <summary>A work directory inside the layout (same filesystem as the blobs, not a RAM-backed /tmp), removed with its contents.</summary>
    private sealed class WorkArea : IDisposable
    {
        private readonly string _path;

        public WorkArea(string layout) => _path = Directory.CreateDirectory(Path.Combine(layout, ".doras-image-delta-" + Guid.NewGuid().ToString("N"))).FullName;

        public string File(string name) => Path.Combine(_path, name);

        public void Dispose()
        {
            try { Directory.Delete(_path, recursive: true); }
            catch (IOException) { } // best effort: the next update removes what is left (ImageUpdater.RemoveInterruptedWork)
        }
    }
}

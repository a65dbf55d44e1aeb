using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Model;

namespace Doras.Delta.Images;

/// <summary>What an image delta does with each layer, and the bytes it leaves the device to download.</summary>
public sealed record ImageDeltaSummary(IReadOnlyList<string> Layers, long FetchedBytes)
{
    /// <summary>For the delta's manifest and logs: one word per layer, e.g. <c>held rebuilt:tardiff fetch</c>.</summary>
    public string Describe() => string.Join(" ", Layers);
}

/// <summary>
/// The server's side of an image delta (<see cref="ImageDeltaFile"/>): per layer of the new image, "held" when the
/// device has a blob with its digest (a layer of the old image, or one planned earlier in this image), else the
/// smallest verified delta of its tar against the old image's layers (<see cref="ImageDeltaBase"/>) with the recipe
/// that compresses it back exactly, or "fetch" when nothing reproduces the blob, the delta is not smaller than it,
/// the layer's candidates fail, or the image's time budget is spent. Layers are read from the registry verified
/// (blob digest and diff_id) and bounded; each layer's record is written to a work file as soon as it is planned,
/// and its blob, tar and losing candidates are deleted, so the work directory holds the base, one layer's work and
/// the records.
/// </summary>
/// <param name="budget">For the whole image: a layer planned after it is spent is fetched, and one being built when it runs out too.</param>
public sealed class ImageDeltaEncoder(IReadOnlyList<IDeltaAlgorithm> candidates, TimeSpan budget, long maxLayerBytes, TimeProvider? time = null, ISmallestDeltaObserver? observer = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async Task<ImageDeltaSummary> WriteAsync(IReadOnlyOciRepository repository, OciImage from, OciImage to, string work, Stream output, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + budget;
        var baseInput = await ImageDeltaBase.WriteAsync(Path.Combine(work, "base"),
            from.Layers.Where(l => !l.IsForeign).Select(l => (Func<CancellationToken, Task<Stream>>)(c => l.OpenUncompressedAsync(repository, maxLayerBytes, c))), ct).ConfigureAwait(false);
        var held = from.Layers.Where(l => !l.IsForeign).Select(l => l.Descriptor.Digest).ToHashSet();
        var records = new List<string>(to.Layers.Count);
        var words = new List<string>(to.Layers.Count);
        long fetched = 0;
        for (var i = 0; i < to.Layers.Count; i++)
        {
            var layer = to.Layers[i];
            var plan = await PlanAsync(repository, layer, held, baseInput, Path.Combine(work, $"layer-{i}"), deadline, ct).ConfigureAwait(false);
            var record = Path.Combine(work, $"record-{i}");
            await using (var file = new FileStream(record, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await using (var inner = plan.DeltaPath is null ? null : new FileStream(plan.DeltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await ImageDeltaFile.WriteLayerAsync(file, plan.Plan, inner, ct).ConfigureAwait(false);
            if (Directory.Exists(Path.Combine(work, $"layer-{i}"))) Directory.Delete(Path.Combine(work, $"layer-{i}"), recursive: true);
            records.Add(record);
            // The server's DeltaPlan.CanApply reads these words: "rebuilt:" names the algorithm the device must apply.
            words.Add(plan.Plan switch { LayerPlan.Rebuilt r => $"rebuilt:{r.Algorithm}", LayerPlan.Held => "held", LayerPlan.Fetch => "fetch", _ => "foreign" });
            if (plan.Plan is LayerPlan.Fetch) fetched += layer.Descriptor.Size;
            if (!layer.IsForeign) held.Add(layer.Descriptor.Digest); // a repeated layer is there by the time the device reaches it
        }

        ImageDeltaFile.WriteHeader(output, new ImageDeltaHeader(from.Descriptor.Digest, to.Descriptor.Digest, baseInput.Digest, baseInput.Size), records.Count);
        foreach (var record in records)
        {
            await using var file = new FileStream(record, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await file.CopyToAsync(output, 1 << 16, ct).ConfigureAwait(false);
        }
        return new ImageDeltaSummary(words, fetched);
    }

    private async Task<(LayerPlan Plan, string? DeltaPath)> PlanAsync(IReadOnlyOciRepository repository, ImageLayer layer, HashSet<Digest> held, DeltaInput baseInput, string work,
        DateTimeOffset deadline, CancellationToken ct)
    {
        if (layer.IsForeign) return (new LayerPlan.Foreign(), null);
        if (held.Contains(layer.Descriptor.Digest)) return (new LayerPlan.Held(), null);
        var remaining = deadline - _time.GetUtcNow();
        if (remaining <= TimeSpan.Zero) return (new LayerPlan.Fetch(), null);
        Directory.CreateDirectory(work);
        var (blobPath, tarPath) = (Path.Combine(work, "blob"), Path.Combine(work, "tar"));
        await using (var blob = await repository.FetchAsync(layer.Descriptor, ct).ConfigureAwait(false))
        await using (var file = new FileStream(blobPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await blob.CopyToAsync(file, 1 << 16, ct).ConfigureAwait(false);
        long tarSize;
        await using (var compressed = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        await using (var tar = new DiffIdCheckingStream(LayerMediaTypes.Decompress(compressed, layer.Compression), layer.DiffId, maxLayerBytes, $"layer {layer.Descriptor.Digest}"))
        await using (var file = new FileStream(tarPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            await tar.CopyToAsync(file, 1 << 16, ct).ConfigureAwait(false);
            tarSize = file.Length;
        }

        using var layerDeadline = new CancellationTokenSource(remaining, _time);
        using var layerTime = CancellationTokenSource.CreateLinkedTokenSource(ct, layerDeadline.Token);
        try
        {
            var recipe = await LayerRecipes.FindAsync(layer.Compression, blobPath, tarPath, layerTime.Token).ConfigureAwait(false);
            File.Delete(blobPath);
            if (recipe is null) return (new LayerPlan.Fetch(), null);
            var (smallest, _) = await new SmallestDelta(remaining, _time).BuildAsync(candidates, baseInput, new DeltaInput(tarPath, layer.DiffId, tarSize), work, observer, layerTime.Token).ConfigureAwait(false);
            // Worth it only when the delta and its recipe are smaller than the blob itself (the record's own bytes count too).
            return smallest.Size + recipe.SideBytes + 32 < layer.Descriptor.Size
                ? (new LayerPlan.Rebuilt(recipe, smallest.Algorithm.Name, tarSize, smallest.Size), smallest.Path)
                : (new LayerPlan.Fetch(), null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (new LayerPlan.Fetch(), null); // the image's budget ran out inside this layer
        }
        catch (Exception e) when (e is IncompatibleArtifactException or CorruptDeltaException)
        {
            return (new LayerPlan.Fetch(), null); // no candidate makes (or reproduces) this layer: it travels as it is
        }
        finally
        {
            File.Delete(tarPath);
        }
    }
}

using Doras.Delta.Algorithms;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Model;

namespace Doras.Delta.Images;

/// <summary>What an image delta holds, layer by layer, and what it saves.</summary>
/// <param name="PlainPullBytes">What a plain pull of the new image downloads on a device with the old one: its new layers and config.</param>
public sealed record ImageDeltaSummary(int Held, int Rebuilt, int Fetched, int Foreign, long FetchedBytes, long PlainPullBytes, IReadOnlyList<string> Layers)
{
    /// <summary>For the delta's manifest and logs: one word per layer, e.g. <c>held rebuilt:tardiff fetch</c>.</summary>
    public string Describe() => string.Join(" ", Layers);
}

/// <summary>
/// The server's side of an image delta (<see cref="ImageDeltaFile"/>): per layer of the new image, "held" when the
/// device has a blob with its digest, else the smallest verified delta of its tar against the old image's layers
/// (<see cref="ImageDeltaBase"/>) with the recipe that compresses it back exactly, or "fetch" when nothing
/// reproduces the blob or the delta is not smaller than it. Layers are read from the registry verified (blob digest
/// and diff_id) and bounded; work files stay in <c>work</c>, one layer at a time.
/// </summary>
public sealed class ImageDeltaEncoder(IReadOnlyList<IDeltaAlgorithm> candidates, TimeSpan budget, long maxLayerBytes, ISmallestDeltaObserver? observer = null)
{
    public async Task<ImageDeltaSummary> WriteAsync(IReadOnlyOciRepository repository, OciImage from, OciImage to, string work, Stream output, CancellationToken ct)
    {
        var baseInput = await ImageDeltaBase.WriteAsync(Path.Combine(work, "base"),
            from.Layers.Where(l => !l.IsForeign).Select(l => (Func<CancellationToken, Task<Stream>>)(c => l.OpenUncompressedAsync(repository, maxLayerBytes, c))), ct).ConfigureAwait(false);
        var held = from.Layers.Where(l => !l.IsForeign).Select(l => l.Descriptor.Digest).ToHashSet();
        var plans = new List<(LayerPlan Plan, string? DeltaPath)>();
        for (var i = 0; i < to.Layers.Count; i++)
            plans.Add(await PlanAsync(repository, to.Layers[i], held, baseInput, Path.Combine(work, $"layer-{i}"), ct).ConfigureAwait(false));

        ImageDeltaFile.WriteHeader(output, new ImageDeltaHeader(from.Descriptor.Digest, to.Descriptor.Digest, baseInput.Digest, baseInput.Size,
            to.Descriptor.MediaType, to.ManifestBytes, to.Config.Bytes), plans.Count);
        foreach (var (plan, deltaPath) in plans)
        {
            if (deltaPath is null)
            {
                await ImageDeltaFile.WriteLayerAsync(output, plan, null, ct).ConfigureAwait(false);
                continue;
            }
            await using var inner = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await ImageDeltaFile.WriteLayerAsync(output, plan, inner, ct).ConfigureAwait(false);
        }

        var fetched = to.Layers.Zip(plans).Where(p => p.Second.Plan is LayerPlan.Fetch).ToList();
        return new ImageDeltaSummary(
            plans.Count(p => p.Plan is LayerPlan.Held), plans.Count(p => p.Plan is LayerPlan.Rebuilt), fetched.Count, plans.Count(p => p.Plan is LayerPlan.Foreign),
            fetched.Sum(p => p.First.Descriptor.Size),
            to.Layers.Where(l => !l.IsForeign && !held.Contains(l.Descriptor.Digest)).DistinctBy(l => l.Descriptor.Digest).Sum(l => l.Descriptor.Size) + to.Manifest.Config.Size,
            plans.Select(p => p.Plan switch { LayerPlan.Rebuilt r => $"rebuilt:{r.Algorithm}", LayerPlan.Held => "held", LayerPlan.Fetch => "fetch", _ => "foreign" }).ToList());
    }

    private async Task<(LayerPlan, string?)> PlanAsync(IReadOnlyOciRepository repository, ImageLayer layer, HashSet<Digest> held, DeltaInput baseInput, string work, CancellationToken ct)
    {
        if (layer.IsForeign) return (new LayerPlan.Foreign(), null);
        if (held.Contains(layer.Descriptor.Digest)) return (new LayerPlan.Held(), null);
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

        var recipe = await LayerRecipes.FindAsync(layer.Compression, blobPath, tarPath, ct).ConfigureAwait(false);
        File.Delete(blobPath);
        if (recipe is null) return (new LayerPlan.Fetch(), null);
        var (smallest, _) = await new SmallestDelta(budget).BuildAsync(candidates, baseInput, new DeltaInput(tarPath, layer.DiffId, tarSize), work, observer, ct).ConfigureAwait(false);
        File.Delete(tarPath);
        // Worth it only when the delta and its recipe are smaller than the blob itself (the record's own bytes count too).
        return smallest.Size + recipe.SideBytes + 32 < layer.Descriptor.Size
            ? (new LayerPlan.Rebuilt(recipe, smallest.Algorithm.Name, tarSize, smallest.Size), smallest.Path)
            : (new LayerPlan.Fetch(), null);
    }
}

using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>One tag of an all-tags copy: its digest, and whether it was copied (false: the target had it).</summary>
public sealed record TagCopy(string Tag, Digest Digest, bool Copied);

public sealed record CopyOptions
{
    /// <summary>Blobs transferred at once.</summary>
    public int Concurrency { get; init; } = 3;

    /// <summary>Told each blob as it is copied, skipped or mounted.</summary>
    public IProgress<(Descriptor Blob, string Action)>? Progress { get; init; }
}

/// <summary>
/// Copies an artifact graph (index -> manifests -> config and layers) between any two stores (layout
/// directory or registry, either direction): blobs first, concurrently, skipping those the target has and
/// mounting them where the target can take them from the source (<see cref="IBlobMounter"/>: repositories of the
/// same registry); manifests after their children, so the target never holds a manifest whose content is
/// missing; tags last.
/// </summary>
public static class GraphCopy
{
    public static async Task<Descriptor> CopyAsync(IReadOnlyOciRepository source, string tagOrDigest, IOciRepository target, IEnumerable<string> tags, CopyOptions? options = null, CancellationToken ct = default)
    {
        options ??= new CopyOptions();
        var root = await source.ResolveAsync(tagOrDigest, ct).ConfigureAwait(false);
        await CopyNodeAsync(source, root, target, options, ct).ConfigureAwait(false);
        foreach (var tag in tags) await target.TagAsync(root, tag, ct).ConfigureAwait(false);
        return root;
    }

    /// <summary>
    /// Copies every tag of <paramref name="source"/> to <paramref name="target"/>, under the same names. A tag the
    /// target already has at the same digest is skipped without reading its graph; any other is copied (blobs and
    /// manifests the target has are skipped as in <see cref="CopyAsync"/>) and then (re)pointed.
    /// </summary>
    public static async Task<IReadOnlyList<TagCopy>> CopyAllTagsAsync(IReadOnlyOciRepository source, IOciRepository target, CopyOptions? options = null,
        IProgress<TagCopy>? tagProgress = null, Func<string, bool>? includeTag = null, CancellationToken ct = default)
    {
        var tags = new List<string>();
        await foreach (var tag in source.ListTagsAsync(ct).ConfigureAwait(false))
            if (includeTag?.Invoke(tag) ?? true) tags.Add(tag);
        var copied = new List<TagCopy>();
        foreach (var tag in tags)
        {
            var root = await source.ResolveAsync(tag, ct).ConfigureAwait(false);
            var existing = await target.TryResolveAsync(tag, ct).ConfigureAwait(false);
            TagCopy result;
            if (existing?.Digest == root.Digest)
                result = new TagCopy(tag, root.Digest, Copied: false);
            else
            {
                await CopyNodeAsync(source, root, target, options ?? new CopyOptions(), ct).ConfigureAwait(false);
                await target.TagAsync(root, tag, ct).ConfigureAwait(false);
                result = new TagCopy(tag, root.Digest, Copied: true);
            }
            tagProgress?.Report(result);
            copied.Add(result);
        }
        return copied;
    }

    private static async Task CopyNodeAsync(IReadOnlyOciRepository source, Descriptor node, IOciRepository target, CopyOptions options, CancellationToken ct)
    {
        var bytes = await source.FetchBytesAsync(node, ct: ct).ConfigureAwait(false);
        var mediaType = OciJson.PeekMediaType(bytes) ?? node.MediaType;
        if (MediaTypes.IsIndex(mediaType))
        {
            var index = OciJson.Deserialize<ImageIndex>(bytes, $"index {node.Digest}");
            foreach (var child in index.Manifests) await CopyNodeAsync(source, child, target, options, ct).ConfigureAwait(false);
        }
        else
        {
            var manifest = RepositoryExtensions.ParseManifest(bytes, node);
            await Parallel.ForEachAsync(new[] { manifest.Config }.Concat(manifest.Layers).DistinctBy(d => d.Digest),
                new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Concurrency), CancellationToken = ct },
                async (blob, token) => await CopyBlobAsync(source, blob, target, options, token).ConfigureAwait(false)).ConfigureAwait(false);
        }
        if (!await target.ExistsAsync(node, ct).ConfigureAwait(false))
            await target.PushAsync(node with { MediaType = mediaType }, new MemoryStream(bytes, writable: false), ct).ConfigureAwait(false);
    }

    private static async Task CopyBlobAsync(IReadOnlyOciRepository source, Descriptor blob, IOciRepository target, CopyOptions options, CancellationToken ct)
    {
        if (await target.ExistsAsync(blob, ct).ConfigureAwait(false))
        {
            options.Progress?.Report((blob, "exists"));
            return;
        }
        if (target is IBlobMounter mounter && await mounter.TryMountFromAsync(blob, source, ct).ConfigureAwait(false))
        {
            options.Progress?.Report((blob, "mounted"));
            return;
        }
        await using (var content = await source.FetchAsync(blob, ct).ConfigureAwait(false))
            await target.PushAsync(blob, content, ct).ConfigureAwait(false);
        options.Progress?.Report((blob, "copied"));
    }
}

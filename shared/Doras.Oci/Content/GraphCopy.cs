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

    /// <summary>What is attached to each copied manifest and travels with it (signatures, referrers); null: nothing attached.</summary>
    public AttachedCopy? Attached { get; init; }
}

/// <summary>
/// Copying what is attached to a manifest along with it, as skopeo and crane copy a version's signatures: cosign's
/// tags (<c>sha256-&lt;hex&gt;.sig</c>, <c>.att</c>, <c>.sbom</c>) and the manifests whose <c>subject</c> it is
/// (referrers: notation signatures, sigstore bundles, SBOMs), then what is attached to those, to a bounded depth.
/// </summary>
public sealed record AttachedCopy
{
    /// <summary>cosign's tags of each copied manifest.</summary>
    public bool CosignTags { get; init; } = true;

    /// <summary>The referrers of each copied manifest (from a source that can list them: <see cref="IReferrerLister"/>).</summary>
    public bool Referrers { get; init; } = true;

    /// <summary>How far attachments of attachments are followed: 1 copies only what is attached to the version's own manifests.</summary>
    public int MaxDepth { get; init; } = 3;

    /// <summary>Most attachments copied with one version; the rest are left behind and reported (<see cref="Progress"/>, "limit").</summary>
    public int MaxAttachments { get; init; } = 500;

    /// <summary>Told each attachment: the manifest, how it was found (a cosign tag, or "referrer"), and "copied", "exists" or "limit".</summary>
    public IProgress<(Descriptor Manifest, string Via, string Action)>? Progress { get; init; }
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
        var manifests = new List<Digest>();
        await CopyNodeAsync(source, root, target, options, ct, manifests).ConfigureAwait(false);
        // Attachments before the tags: a tag never names a version whose signatures have not arrived yet.
        if (options.Attached is { } attached)
            await CopyAttachedAsync(source, manifests, target, options, attached, new HashSet<Digest>(), ct).ConfigureAwait(false);
        foreach (var tag in tags) await target.TagAsync(root, tag, ct).ConfigureAwait(false);
        return root;
    }

    /// <summary>
    /// Copies every tag of <paramref name="source"/> to <paramref name="target"/>, under the same names. A tag the
    /// target already has at the same digest is skipped without reading its graph; any other is copied (blobs and
    /// manifests the target has are skipped as in <see cref="CopyAsync"/>) and then (re)pointed. With
    /// <see cref="CopyOptions.Attached"/>, the tags of attachments (<see cref="AttachmentTags"/>) are not copied as
    /// versions: they travel with the manifests they are attached to, also those of tags the target has (a signature
    /// added since arrives).
    /// </summary>
    public static async Task<IReadOnlyList<TagCopy>> CopyAllTagsAsync(IReadOnlyOciRepository source, IOciRepository target, CopyOptions? options = null,
        IProgress<TagCopy>? tagProgress = null, Func<string, bool>? includeTag = null, CancellationToken ct = default)
    {
        var tags = new List<string>();
        await foreach (var tag in source.ListTagsAsync(ct).ConfigureAwait(false))
            if ((includeTag?.Invoke(tag) ?? true) && (options?.Attached is null || !AttachmentTags.IsAttachment(tag))) tags.Add(tag);
        var copied = new List<TagCopy>();
        var attachedDone = new HashSet<Digest>();
        foreach (var tag in tags)
        {
            var root = await source.ResolveAsync(tag, ct).ConfigureAwait(false);
            var existing = await target.TryResolveAsync(tag, ct).ConfigureAwait(false);
            TagCopy result;
            var manifests = new List<Digest>();
            if (existing?.Digest == root.Digest)
            {
                if (options?.Attached is { } attached && !attachedDone.Contains(root.Digest))
                {
                    await ManifestsOfAsync(source, root, manifests, ct).ConfigureAwait(false);
                    await CopyAttachedAsync(source, manifests, target, options, attached, attachedDone, ct).ConfigureAwait(false);
                }
                result = new TagCopy(tag, root.Digest, Copied: false);
            }
            else
            {
                await CopyNodeAsync(source, root, target, options ?? new CopyOptions(), ct, manifests).ConfigureAwait(false);
                if (options?.Attached is { } attached)
                    await CopyAttachedAsync(source, manifests, target, options, attached, attachedDone, ct).ConfigureAwait(false);
                await target.TagAsync(root, tag, ct).ConfigureAwait(false);
                result = new TagCopy(tag, root.Digest, Copied: true);
            }
            tagProgress?.Report(result);
            copied.Add(result);
        }
        return copied;
    }

    /// <summary>
    /// Copies what is attached to <paramref name="subjects"/> (cosign's tags, referrers), then what is attached to
    /// that, breadth first, to <see cref="AttachedCopy.MaxDepth"/> and at most <see cref="AttachedCopy.MaxAttachments"/>
    /// manifests. <paramref name="done"/> holds the subjects already handled (shared by the tags of an all-tags copy).
    /// </summary>
    private static async Task CopyAttachedAsync(IReadOnlyOciRepository source, IReadOnlyList<Digest> subjects, IOciRepository target, CopyOptions options,
        AttachedCopy attached, HashSet<Digest> done, CancellationToken ct)
    {
        var level = subjects.Where(done.Add).ToList();
        var count = 0;
        for (var depth = 1; depth <= attached.MaxDepth && level.Count > 0; depth++)
        {
            var next = new List<Digest>();
            foreach (var subject in level)
            {
                var found = new List<(Descriptor Manifest, string Via, string? Tag)>();
                if (attached.CosignTags)
                    foreach (var suffix in AttachmentTags.CosignSuffixes)
                    {
                        var tag = AttachmentTags.CosignTag(subject, suffix);
                        if (await source.TryResolveAsync(tag, ct).ConfigureAwait(false) is { } manifest) found.Add((manifest, tag, tag));
                    }
                if (attached.Referrers && source is IReferrerLister lister)
                    foreach (var referrer in await lister.ReferrersAsync(subject, ct: ct).ConfigureAwait(false))
                        found.Add((referrer, "referrer", null));

                // What the target already lists, so a referrer it holds but does not list (stored without its
                // subject's referrers index) is pushed again, which makes a registry list it.
                HashSet<Digest>? listed = null;
                if (found.Any(f => f.Tag is null) && target is IReferrerLister targetLister)
                    listed = (await targetLister.ReferrersAsync(subject, ct: ct).ConfigureAwait(false)).Select(d => d.Digest).ToHashSet();
                foreach (var (manifest, via, tag) in found)
                {
                    if (count == attached.MaxAttachments)
                    {
                        attached.Progress?.Report((manifest, via, "limit"));
                        continue;
                    }
                    count++;
                    var existing = tag is null ? null : await target.TryResolveAsync(tag, ct).ConfigureAwait(false);
                    var present = tag is not null ? existing?.Digest == manifest.Digest
                        : listed?.Contains(manifest.Digest) ?? await target.ExistsAsync(manifest, ct).ConfigureAwait(false);
                    if (!present)
                    {
                        var stored = tag is null && await target.ExistsAsync(manifest, ct).ConfigureAwait(false);
                        await CopyNodeAsync(source, manifest, target, options, ct).ConfigureAwait(false);
                        if (stored)
                        {
                            var bytes = await source.FetchBytesAsync(manifest, ct: ct).ConfigureAwait(false);
                            await target.PushAsync(manifest with { MediaType = OciJson.PeekMediaType(bytes) ?? manifest.MediaType },
                                new MemoryStream(bytes, writable: false), ct).ConfigureAwait(false);
                        }
                    }
                    // The source's cosign tag replaces the target's, as cosign copy and crane copy do.
                    if (tag is not null && !present) await target.TagAsync(manifest, tag, ct).ConfigureAwait(false);
                    attached.Progress?.Report((manifest, via, present ? "exists" : "copied"));
                    if (done.Add(manifest.Digest)) next.Add(manifest.Digest);
                }
            }
            level = next;
        }
    }

    /// <summary>The digests of a manifest, or of an index and the manifests it lists (what attachments may hang on).</summary>
    private static async Task ManifestsOfAsync(IReadOnlyOciRepository source, Descriptor node, List<Digest> manifests, CancellationToken ct)
    {
        manifests.Add(node.Digest);
        if (!MediaTypes.IsIndex(node.MediaType)) return;
        var index = OciJson.Deserialize<ImageIndex>(await source.FetchBytesAsync(node, ct: ct).ConfigureAwait(false), $"index {node.Digest}");
        foreach (var child in index.Manifests)
            if (MediaTypes.IsManifest(child.MediaType) || MediaTypes.IsIndex(child.MediaType)) manifests.Add(child.Digest);
    }

    /// <summary>Indexes nested deeper than this, or graphs of more nodes, are hostile (no image tool nests past two).</summary>
    private const int MaxDepth = 8, MaxNodes = 10_000;

    /// <param name="manifests">Collects the digests of the manifests and indexes copied (the node's and its children's).</param>
    /// <param name="visited">The nodes this walk has copied: an index listing the same child twice (or indexes sharing children,
    /// nested to blow up) costs each node once.</param>
    private static async Task CopyNodeAsync(IReadOnlyOciRepository source, Descriptor node, IOciRepository target, CopyOptions options, CancellationToken ct,
        List<Digest>? manifests = null, HashSet<Digest>? visited = null, int depth = 0)
    {
        visited ??= [];
        if (!visited.Add(node.Digest)) return;
        if (depth > MaxDepth || visited.Count > MaxNodes)
            throw new InvalidDataException($"{source.Name}@{node.Digest}: the graph is nested deeper than {MaxDepth} or has more than {MaxNodes} nodes");
        var bytes = await source.FetchBytesAsync(node, ct: ct).ConfigureAwait(false);
        var mediaType = OciJson.PeekMediaType(bytes) ?? node.MediaType;
        manifests?.Add(node.Digest);
        if (MediaTypes.IsIndex(mediaType))
        {
            var index = OciJson.Deserialize<ImageIndex>(bytes, $"index {node.Digest}");
            foreach (var child in index.Manifests) await CopyNodeAsync(source, child, target, options, ct, manifests, visited, depth + 1).ConfigureAwait(false);
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

using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Layout;

/// <summary>
/// The layout's own garbage collection: removes the blobs that nothing in its <c>index.json</c> refers to any more
/// (directly, or through a manifest or index it lists), once they are older than a grace period: a push stores its
/// blobs before the manifest that refers to them is tagged, so a young unreferenced blob may be one being pushed.
/// A dry run makes the same computation and only skips the deletion, so it reports exactly what a real run removes.
/// Referrers (signatures, SBOMs: manifests whose <c>subject</c> is a manifest) need no tag: one whose subject is kept
/// is kept with everything it refers to (and its own referrers); one whose subject goes, goes with it.
/// </summary>
public sealed partial class OciLayoutRepository
{
    public async Task<SweepResult> SweepAsync(IReadOnlySet<(string Tag, Digest Digest)> untagged, TimeSpan grace, bool dryRun, CancellationToken ct = default)
    {
        var blobs = Path.Combine(Directory, "blobs");
        if (!File.Exists(IndexPath) || !System.IO.Directory.Exists(blobs)) return new SweepResult([], null);
        var index = OciJson.Deserialize<ImageIndex>(await File.ReadAllBytesAsync(IndexPath, ct).ConfigureAwait(false), IndexPath);
        var referenced = new HashSet<Digest>();
        foreach (var descriptor in index.Manifests)
        {
            if (descriptor.Annotation(Annotations.RefName) is { } tag && untagged.Contains((tag, descriptor.Digest))) continue;
            // A manifest we cannot read may refer to any blob: keep them all rather than leave it dangling.
            if (await MarkAsync(descriptor, referenced, ct).ConfigureAwait(false) is { } unreadable)
                return new SweepResult([], $"{unreadable}; its blobs may be referenced by it, so no blob was removed");
        }

        if (await MarkReferrersAsync(blobs, referenced, ct).ConfigureAwait(false) is { } unreadableReferrer)
            return new SweepResult([], $"{unreadableReferrer}; its blobs may be referenced by it, so no blob was removed");

        var cutoff = DateTime.UtcNow - grace;
        var removed = new List<(Digest, long)>();
        foreach (var algorithm in System.IO.Directory.EnumerateDirectories(blobs))
        foreach (var file in System.IO.Directory.EnumerateFiles(algorithm))
        {
            if (!Digest.TryParse($"{Path.GetFileName(algorithm)}:{Path.GetFileName(file)}", out var digest) || referenced.Contains(digest)) continue;
            var info = new FileInfo(file);
            if (info.LastWriteTimeUtc > cutoff) continue;
            removed.Add((digest, info.Length));
            if (!dryRun) File.Delete(file);
        }
        return new SweepResult(removed, null);
    }

    /// <summary>
    /// Marks the referrers of marked manifests, and theirs, until no more are found: every blob small enough to be a
    /// manifest is read once, and those with a subject are kept by subject.
    /// </summary>
    private async Task<string?> MarkReferrersAsync(string blobs, HashSet<Digest> referenced, CancellationToken ct)
    {
        var bySubject = new Dictionary<Digest, List<Descriptor>>();
        foreach (var algorithm in System.IO.Directory.EnumerateDirectories(blobs))
        foreach (var file in System.IO.Directory.EnumerateFiles(algorithm))
        {
            if (!Digest.TryParse($"{Path.GetFileName(algorithm)}:{Path.GetFileName(file)}", out var digest) || referenced.Contains(digest)) continue;
            var info = new FileInfo(file);
            if (info.Length > OciJson.MaxManifestBytes || info.Length == 0) continue;
            byte[] bytes;
            try { bytes = await File.ReadAllBytesAsync(file, ct).ConfigureAwait(false); }
            catch (FileNotFoundException) { continue; }
            if (bytes[0] != (byte)'{' || SubjectOf(bytes, digest) is not { } subject) continue; // a layer or config, or a manifest without subject
            if (!bySubject.TryGetValue(subject.Subject, out var list)) bySubject[subject.Subject] = list = [];
            list.Add(subject.Referrer);
        }
        var pending = new Queue<Digest>(referenced.Where(bySubject.ContainsKey));
        while (pending.Count > 0)
            foreach (var referrer in bySubject[pending.Dequeue()])
            {
                if (referenced.Contains(referrer.Digest)) continue;
                if (await MarkAsync(referrer, referenced, ct).ConfigureAwait(false) is { } unreadable) return unreadable;
                if (bySubject.ContainsKey(referrer.Digest)) pending.Enqueue(referrer.Digest);
            }
        return null;
    }

    /// <summary>The subject of a stored manifest or index, with its descriptor; null for anything else.</summary>
    private static (Digest Subject, Descriptor Referrer)? SubjectOf(byte[] bytes, Digest digest)
    {
        try
        {
            var mediaType = OciJson.PeekMediaType(bytes);
            if (mediaType is null) return null;
            Descriptor? subject = MediaTypes.IsIndex(mediaType) ? OciJson.Deserialize<ImageIndex>(bytes, $"index {digest}").Subject
                : MediaTypes.IsManifest(mediaType) ? OciJson.Deserialize<ImageManifest>(bytes, $"manifest {digest}").Subject : null;
            return subject is null ? null : (subject.Digest, new Descriptor { MediaType = mediaType, Digest = digest, Size = bytes.Length });
        }
        catch (Exception e) when (e is InvalidDataException or FormatException) { return null; } // not JSON, or not of a manifest's shape
    }

    /// <summary>Marks a manifest or index and everything it refers to; returns why it cannot be read, or null.</summary>
    private async Task<string?> MarkAsync(Descriptor descriptor, HashSet<Digest> referenced, CancellationToken ct)
    {
        if (!referenced.Add(descriptor.Digest)) return null;
        var isIndex = MediaTypes.IsIndex(descriptor.MediaType);
        if (!isIndex && !MediaTypes.IsManifest(descriptor.MediaType))
            return $"manifest {descriptor.Digest} has media type '{descriptor.MediaType}', which garbage collection cannot read";
        using var stream = OpenSeekable(descriptor.Digest);
        if (stream is null) return $"manifest {descriptor.Digest} is listed but not stored";
        if (stream.Length > OciJson.MaxManifestBytes)
            return $"manifest {descriptor.Digest} is {stream.Length} bytes, over the {OciJson.MaxManifestBytes}-byte limit for manifests";
        var bytes = new byte[stream.Length];
        await stream.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        try
        {
            if (isIndex)
            {
                var index = OciJson.Deserialize<ImageIndex>(bytes, $"index {descriptor.Digest}");
                if (index.Manifests is null) return $"index {descriptor.Digest} lists no manifests";
                foreach (var child in index.Manifests)
                    if (await MarkAsync(child, referenced, ct).ConfigureAwait(false) is { } unreadable) return unreadable;
                return null;
            }
            var manifest = OciJson.Deserialize<ImageManifest>(bytes, $"manifest {descriptor.Digest}");
            if (manifest.Config is null || manifest.Layers is null) return $"manifest {descriptor.Digest} has no config or no layers";
            referenced.Add(manifest.Config.Digest);
            foreach (var layer in manifest.Layers) referenced.Add(layer.Digest);
            return null;
        }
        catch (InvalidDataException e) { return e.Message; } // not valid JSON, or not of the manifest's shape
    }
}

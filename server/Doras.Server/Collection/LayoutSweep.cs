using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Server.Collection;

/// <summary>
/// Removes the blobs of an embedded-store repository that nothing in its <c>index.json</c> refers to any more
/// (directly, or through a manifest or index it lists), once they are older than a grace period: a push stores its
/// blobs before the manifest that refers to them is tagged, so a young unreferenced blob may be one being pushed.
/// A dry run makes the same computation and only skips the deletion, so it reports exactly what a real run removes.
/// </summary>
public static class LayoutSweep
{
    /// <param name="Removed">The blobs removed (in a dry run: that would be), with their sizes.</param>
    /// <param name="SkippedBecause">Why nothing was removed at all: a manifest the sweep cannot read.</param>
    public sealed record Result(IReadOnlyList<(Digest Digest, long Size)> Removed, string? SkippedBecause)
    {
        public long Bytes => Removed.Sum(r => r.Size);
    }

    /// <param name="untagged">
    /// Index entries (tag, manifest) to count as gone: the tags garbage collection deletes. A real run has removed
    /// them from the index already; a dry run has not, and must free the same blobs.
    /// </param>
    public static async Task<Result> SweepAsync(OciLayoutRepository repository, IReadOnlySet<(string Tag, Digest Digest)> untagged,
        TimeSpan grace, bool dryRun, CancellationToken ct)
    {
        var indexPath = Path.Combine(repository.Directory, "index.json");
        var blobs = Path.Combine(repository.Directory, "blobs");
        if (!File.Exists(indexPath) || !Directory.Exists(blobs)) return new Result([], null);
        var index = OciJson.Deserialize<ImageIndex>(await File.ReadAllBytesAsync(indexPath, ct).ConfigureAwait(false), indexPath);
        var referenced = new HashSet<Digest>();
        foreach (var descriptor in index.Manifests)
        {
            if (descriptor.Annotation(Annotations.RefName) is { } tag && untagged.Contains((tag, descriptor.Digest))) continue;
            // A manifest we cannot read may refer to any blob: keep them all rather than leave it dangling.
            if (await MarkAsync(repository, descriptor, referenced, ct).ConfigureAwait(false) is { } unreadable)
                return new Result([], $"{unreadable}; its blobs may be referenced by it, so no blob was removed");
        }

        var cutoff = DateTime.UtcNow - grace;
        var removed = new List<(Digest, long)>();
        foreach (var algorithm in Directory.EnumerateDirectories(blobs))
        foreach (var file in Directory.EnumerateFiles(algorithm))
        {
            if (!Digest.TryParse($"{Path.GetFileName(algorithm)}:{Path.GetFileName(file)}", out var digest) || referenced.Contains(digest)) continue;
            var info = new FileInfo(file);
            if (info.LastWriteTimeUtc > cutoff) continue;
            removed.Add((digest, info.Length));
            if (!dryRun) File.Delete(file);
        }
        return new Result(removed, null);
    }

    /// <summary>Marks a manifest or index and everything it refers to; returns why it cannot be read, or null.</summary>
    private static async Task<string?> MarkAsync(OciLayoutRepository repository, Descriptor descriptor, HashSet<Digest> referenced, CancellationToken ct)
    {
        if (!referenced.Add(descriptor.Digest)) return null;
        var isIndex = MediaTypes.IsIndex(descriptor.MediaType);
        if (!isIndex && !MediaTypes.IsManifest(descriptor.MediaType))
            return $"manifest {descriptor.Digest} has media type '{descriptor.MediaType}', which garbage collection cannot read";
        using var stream = repository.OpenSeekable(descriptor.Digest);
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
                    if (await MarkAsync(repository, child, referenced, ct).ConfigureAwait(false) is { } unreadable) return unreadable;
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

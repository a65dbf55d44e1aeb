using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Server.Collection;

/// <summary>
/// Removes the blobs of an embedded-store repository that nothing in its <c>index.json</c> refers to any more
/// (directly, or through a manifest or index it lists), once they are older than a grace period: a push stores its
/// blobs before the manifest that refers to them is tagged, so a young unreferenced blob may be one being pushed.
/// </summary>
public static class LayoutSweep
{
    public sealed record Result(int Blobs, long Bytes);

    public static async Task<Result> SweepAsync(OciLayoutRepository repository, TimeSpan grace, bool dryRun, CancellationToken ct)
    {
        var indexPath = Path.Combine(repository.Directory, "index.json");
        var blobs = Path.Combine(repository.Directory, "blobs");
        if (!File.Exists(indexPath) || !Directory.Exists(blobs)) return new Result(0, 0);
        var index = OciJson.Deserialize<ImageIndex>(await File.ReadAllBytesAsync(indexPath, ct).ConfigureAwait(false), indexPath);
        var referenced = new HashSet<Digest>();
        foreach (var descriptor in index.Manifests) await MarkAsync(repository, descriptor, referenced, ct).ConfigureAwait(false);

        var cutoff = DateTime.UtcNow - grace;
        int count = 0;
        long bytes = 0;
        foreach (var algorithm in Directory.EnumerateDirectories(blobs))
        foreach (var file in Directory.EnumerateFiles(algorithm))
        {
            if (!Digest.TryParse($"{Path.GetFileName(algorithm)}:{Path.GetFileName(file)}", out var digest) || referenced.Contains(digest)) continue;
            var info = new FileInfo(file);
            if (info.LastWriteTimeUtc > cutoff) continue;
            count++;
            bytes += info.Length;
            if (!dryRun) File.Delete(file);
        }
        return new Result(count, bytes);
    }

    private static async Task MarkAsync(OciLayoutRepository repository, Descriptor descriptor, HashSet<Digest> referenced, CancellationToken ct)
    {
        if (!referenced.Add(descriptor.Digest)) return;
        if (!MediaTypes.IsManifest(descriptor.MediaType) && !MediaTypes.IsIndex(descriptor.MediaType)) return;
        using var stream = repository.OpenSeekable(descriptor.Digest);
        if (stream is null || stream.Length > OciJson.MaxManifestBytes) return; // missing or not a manifest: nothing more it can refer to
        var bytes = new byte[stream.Length];
        await stream.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        if (MediaTypes.IsIndex(descriptor.MediaType))
        {
            foreach (var child in OciJson.Deserialize<ImageIndex>(bytes, descriptor.Digest.ToString()).Manifests)
                await MarkAsync(repository, child, referenced, ct).ConfigureAwait(false);
            return;
        }
        var manifest = OciJson.Deserialize<ImageManifest>(bytes, descriptor.Digest.ToString());
        referenced.Add(manifest.Config.Digest);
        foreach (var layer in manifest.Layers) referenced.Add(layer.Digest);
    }
}

using Doras.Delta.Artifacts;
using Doras.Delta.Deflate.Reconstruction;

namespace Doras.Delta.Images;

/// <summary>
/// gzip layers, whoever compressed them (Go's compress/gzip as buildah and skopeo write them, GNU gzip, pigz, zlib):
/// rebuilt exactly from their tar and a reconstruction recipe (<see cref="GzipRecipe"/>: where the stream departs
/// from our own deflate's choices), which the analysis proves by rebuilding the blob from it before it returns.
/// </summary>
internal static class GzipLayers
{
    /// <summary>
    /// The recipe that rebuilds <paramref name="blobPath"/> from its tar, or null when the blob is not gzip this
    /// reconstruction follows, or its recipe would be over <see cref="ImageDeltaFile.MaxRecipeBytes"/>. Work files go
    /// beside the tar and are removed.
    /// </summary>
    public static LayerRecipe.Gzip? Analyze(string blobPath, string tarPath, CancellationToken ct)
    {
        var (inflatedPath, recipePath) = (tarPath + ".inflated", tarPath + ".recipe");
        try
        {
            using (var blob = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            using (var inflated = new FileStream(inflatedPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            using (var recipe = new FileStream(recipePath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
                GzipRecipe.Analyze(blob, inflated, recipe, new FileInfo(tarPath).Length, ct, new FileInfo(blobPath).Length);
            return new FileInfo(recipePath).Length <= ImageDeltaFile.MaxRecipeBytes ? new LayerRecipe.Gzip(File.ReadAllBytes(recipePath)) : null;
        }
        catch (Exception e) when (e is InvalidDataException or IncompatibleArtifactException)
        {
            return null; // the layer travels as it is
        }
        finally
        {
            File.Delete(inflatedPath);
            File.Delete(recipePath);
        }
    }

    public static void Rebuild(Stream tar, Stream recipe, Stream output, CancellationToken ct) => GzipRecipe.Rebuild(tar, recipe, output, ct);
}

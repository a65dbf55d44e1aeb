using Doras.Delta.Artifacts;
using Doras.Delta.Deflate.Reconstruction;

namespace Doras.Delta.Images;

/// <summary>
/// gzip layers, whoever compressed them (Go's compress/gzip as buildah and skopeo write them, GNU gzip, pigz, zlib):
/// rebuilt exactly from their tar and a reconstruction recipe (<see cref="GzipRecipe"/>: where the stream departs
/// from our own deflate's choices), which the server proves by replaying it before it promises it.
/// </summary>
internal static class GzipLayers
{
    /// <summary>
    /// The recipe that rebuilds <paramref name="blobPath"/> from its tar, or null when the blob is not gzip this
    /// reconstruction follows, or its recipe would be over <see cref="ImageDeltaFile.MaxRecipeBytes"/>.
    /// </summary>
    public static LayerRecipe.Gzip? Analyze(string blobPath, string tarPath, CancellationToken ct)
    {
        var inflatedPath = tarPath + ".inflated";
        try
        {
            using var blob = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            using var inflated = new FileStream(inflatedPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            var recipe = new MemoryStream();
            GzipRecipe.Analyze(blob, inflated, recipe, new FileInfo(tarPath).Length, ct);
            return recipe.Length <= ImageDeltaFile.MaxRecipeBytes ? new LayerRecipe.Gzip(recipe.ToArray()) : null;
        }
        catch (Exception e) when (e is InvalidDataException or IncompatibleArtifactException)
        {
            return null; // the layer travels as it is
        }
        finally
        {
            File.Delete(inflatedPath);
        }
    }

    public static void Rebuild(Stream tar, Stream recipe, Stream output, CancellationToken ct) => GzipRecipe.Rebuild(tar, recipe, output, ct);
}

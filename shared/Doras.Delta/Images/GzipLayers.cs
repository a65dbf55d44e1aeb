using Doras.Delta.Algorithms;

namespace Doras.Delta.Images;

/// <summary>gzip layers: rebuilt exactly from their tar and a reconstruction recipe.</summary>
internal static class GzipLayers
{
    /// <summary>The recipe that rebuilds <paramref name="blobPath"/> from its tar, or null when none is known yet.</summary>
    public static LayerRecipe.Gzip? Analyze(string blobPath, string tarPath, CancellationToken ct) => null;

    public static void Rebuild(Stream tar, Stream recipe, Stream output, CancellationToken ct) =>
        throw new CorruptDeltaException("this build cannot rebuild gzip layers from a recipe");
}

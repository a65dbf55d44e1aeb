using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Tardiff;
using Doras.Delta.Zstd;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Images;

/// <summary>
/// What every layer delta of an image delta is made against: the old image's layers, uncompressed, as one tar.
/// One base for all new layers, so a file moved from one layer to another still matches. The rule, the same on
/// the server and the device (the delta names the base's digest, and the device checks it): each layer's tar in
/// manifest order (foreign layers left out), each without its end-of-archive blocks, then two zero blocks; a layer
/// that is not a tar is kept whole.
/// </summary>
public static class ImageDeltaBase
{
    private const int Block = 512;

    /// <summary>
    /// Writes the base to <paramref name="path"/> from the old layers' uncompressed tars (each opened in turn, read
    /// once), stopping with <see cref="IncompatibleArtifactException"/> past <paramref name="maxBytes"/> (a device writes
    /// no more than the delta said its base is).
    /// </summary>
    public static async Task<DeltaInput> WriteAsync(string path, IEnumerable<Func<CancellationToken, Task<Stream>>> layerTars, CancellationToken ct, long maxBytes = long.MaxValue)
    {
        await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
        {
            foreach (var open in layerTars)
            {
                var start = output.Position;
                await using (var tar = await open(ct).ConfigureAwait(false))
                {
                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = await tar.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        if (n > maxBytes - output.Position) throw new IncompatibleArtifactException($"the old image's layers make a base over the {maxBytes} bytes expected");
                        await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    }
                }
                await output.FlushAsync(ct).ConfigureAwait(false);
                output.SetLength(start + MembersLength(path, start, output.Position - start));
                output.Position = output.Length;
            }
            await output.WriteAsync(new byte[2 * Block], ct).ConfigureAwait(false);
        }
        await using var written = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new DeltaInput(path, await Digest.ComputeAsync(written, Digest.Sha256, ct).ConfigureAwait(false), written.Length);
    }

    /// <summary>How much of the layer at [start, +length) of the file is its members (all of it when it is not a tar).</summary>
    private static long MembersLength(string path, long start, long length)
    {
        if (length == 0) return 0;
        using var view = NativeView.MapFile(path);
        using var layer = view.Slice(start, length);
        try { return TarIndex.Read(layer).TrailerStart; }
        catch (IncompatibleArtifactException) { return length; }
    }
}

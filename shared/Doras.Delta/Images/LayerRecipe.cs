using Doras.Delta.Algorithms;
using Doras.Oci.Images;

namespace Doras.Delta.Images;

/// <summary>
/// How a layer's rebuilt tar becomes the exact bytes the registry holds (so the manifest keeps its digest): kept
/// as it is, zstd at a level this library reproduces, or a gzip stream rebuilt from its reconstruction recipe.
/// The server finds a recipe only when replaying it gives the published bytes (<see cref="LayerRecipes.FindAsync"/>);
/// the device checks the result against the layer's digest anyway.
/// </summary>
public abstract record LayerRecipe
{
    private const byte NoneTag = 0, ZstdTag = 1, GzipTag = 2;

    /// <summary>
    /// The highest zstd level a device is asked to compress at: 19 needs tens of MiB; the "ultra" levels (20-22) need
    /// hundreds, too much for a small device, so such layers travel as they are.
    /// </summary>
    public const int MaxZstdLevel = 19;

    /// <summary>An uncompressed layer: the tar is the blob.</summary>
    public sealed record Uncompressed : LayerRecipe
    {
        public override long SideBytes => 1;

        public override async Task WriteAsync(string tarPath, Stream output, CancellationToken ct)
        {
            await using var tar = OpenTar(tarPath);
            await tar.CopyToAsync(output, 1 << 16, ct).ConfigureAwait(false);
        }
    }

    /// <summary>One zstd frame as this library writes it, with the frame header's options the published frame has.</summary>
    public sealed record Zstd(int Level, bool Checksum, bool ContentSize) : LayerRecipe
    {
        public override long SideBytes => 3;

        public override async Task WriteAsync(string tarPath, Stream output, CancellationToken ct)
        {
            await using var tar = OpenTar(tarPath);
            await using (var compressor = new ZstdSharp.CompressionStream(output, Level, leaveOpen: true))
            {
                compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, Checksum ? 1 : 0);
                compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_contentSizeFlag, ContentSize ? 1 : 0);
                if (ContentSize) compressor.SetPledgedSrcSize((ulong)tar.Length);
                await tar.CopyToAsync(compressor, 1 << 16, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A gzip file rebuilt from its reconstruction recipe (the corrections to our own deflate's choices).</summary>
    public sealed record Gzip(byte[] Recipe) : LayerRecipe
    {
        public override long SideBytes => 1 + Recipe.Length;

        public override async Task WriteAsync(string tarPath, Stream output, CancellationToken ct)
        {
            await using var tar = OpenTar(tarPath);
            await Task.Run(() => GzipLayers.Rebuild(tar, new MemoryStream(Recipe, writable: false), output, ct), ct).ConfigureAwait(false);
        }
    }

    /// <summary>What the recipe costs in the delta, in bytes.</summary>
    public abstract long SideBytes { get; }

    /// <summary>Writes the published layer blob from its tar.</summary>
    public abstract Task WriteAsync(string tarPath, Stream output, CancellationToken ct);

    /// <summary>The compression the recipe rebuilds (it must be the layer's media type's).</summary>
    public LayerCompression Compression => this switch
    {
        Zstd => LayerCompression.Zstd,
        Gzip => LayerCompression.Gzip,
        _ => LayerCompression.None,
    };

    public void WriteTo(Stream output)
    {
        switch (this)
        {
            case Uncompressed:
                output.WriteByte(NoneTag);
                break;
            case Zstd z:
                output.Write([ZstdTag, (byte)z.Level, (byte)((z.Checksum ? 1 : 0) | (z.ContentSize ? 2 : 0))]);
                break;
            case Gzip g:
                output.WriteByte(GzipTag);
                Varint.Write(output, g.Recipe.Length);
                output.Write(g.Recipe);
                break;
        }
    }

    /// <summary>Reads a recipe, refusing what no server writes (unknown kinds, levels out of range, recipes over <paramref name="maxRecipeBytes"/>).</summary>
    public static LayerRecipe ReadFrom(Stream input, long maxRecipeBytes, string what)
    {
        switch (ReadByte(input, what))
        {
            case NoneTag:
                return new Uncompressed();
            case ZstdTag:
                var level = (sbyte)ReadByte(input, what);
                var flags = ReadByte(input, what);
                if (level is < 1 or > MaxZstdLevel || flags > 3) throw new CorruptDeltaException($"{what} has an invalid zstd recipe (level {level}, flags {flags})");
                return new Zstd(level, (flags & 1) != 0, (flags & 2) != 0);
            case GzipTag:
                var length = Varint.ReadLength(input, what);
                if (length > maxRecipeBytes) throw new CorruptDeltaException($"{what} has a {length}-byte gzip recipe, over the limit of {maxRecipeBytes}");
                if (input.CanSeek && length > input.Length - input.Position) throw new CorruptDeltaException($"{what} is truncated in a gzip recipe");
                var recipe = new byte[length];
                try { input.ReadExactly(recipe); }
                catch (EndOfStreamException e) { throw new CorruptDeltaException($"{what} is truncated in a gzip recipe", e); }
                return new Gzip(recipe);
            case var other:
                throw new CorruptDeltaException($"{what} has an unknown layer recipe kind {other}");
        }
    }

    private static byte ReadByte(Stream input, string what) =>
        input.ReadByte() is var b and >= 0 ? (byte)b : throw new CorruptDeltaException($"{what} is truncated in a layer recipe");

    private static FileStream OpenTar(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
}

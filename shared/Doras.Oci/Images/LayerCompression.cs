using System.IO.Compression;

namespace Doras.Oci.Images;

/// <summary>How a layer's tar is compressed, read from its media type (OCI and Docker schema 2).</summary>
public enum LayerCompression { None, Gzip, Zstd }

/// <summary>The layer media types of the OCI image spec and Docker schema 2, and what they say.</summary>
public static class LayerMediaTypes
{
    public const string DockerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string NonDistributableTar = "application/vnd.oci.image.layer.nondistributable.v1.tar";

    /// <summary>The compression a layer media type names; null for a media type that is not an image layer.</summary>
    public static LayerCompression? CompressionOf(string mediaType) => mediaType switch
    {
        Model.MediaTypes.LayerTar or NonDistributableTar => LayerCompression.None,
        Model.MediaTypes.LayerTarGzip or NonDistributableTar + "+gzip" or DockerGzip or DockerForeignGzip => LayerCompression.Gzip,
        Model.MediaTypes.LayerTarZstd or NonDistributableTar + "+zstd" => LayerCompression.Zstd,
        _ => null,
    };

    /// <summary>
    /// Layers a registry need not hold (Windows base layers, licensed content): they are fetched from their own URLs or
    /// not at all, and passed through untouched.
    /// </summary>
    public static bool IsForeign(string mediaType) =>
        mediaType is DockerForeignGzip || mediaType.StartsWith(NonDistributableTar, StringComparison.Ordinal);

    /// <summary>A stream of the tar inside <paramref name="compressed"/>.</summary>
    public static Stream Decompress(Stream compressed, LayerCompression compression) => compression switch
    {
        LayerCompression.None => compressed,
        LayerCompression.Gzip => new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false),
        // Window up to 128 MiB (zstd's default maximum for decoders is 8 MiB without --long; image tools use at most 27).
        LayerCompression.Zstd => ZstdLayer(compressed),
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    private static Stream ZstdLayer(Stream compressed)
    {
        var stream = new ZstdSharp.DecompressionStream(compressed, leaveOpen: false);
        stream.SetParameter(ZstdSharp.Unsafe.ZSTD_dParameter.ZSTD_d_windowLogMax, 27);
        return stream;
    }
}

using Doras.Delta.Algorithms;
using Doras.Delta.Vocabulary;
using Doras.Delta.Zstd;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Artifacts;

public enum ArtifactKind { File, Directory }

/// <summary>
/// The single layer of a published artifact, read from its manifest: what it is (one file, or a directory
/// packed as tar), its name, how it is compressed, and the digest and size of its uncompressed content,
/// which is what deltas are computed between and what a device verifies after applying one.
/// </summary>
public sealed record ArtifactLayer(Descriptor Layer, ArtifactKind Kind, string Name, LayerCompression Compression, Digest ContentDigest, long ContentSize)
{
    /// <summary>Interprets a manifest as a single-layer artifact, or throws <see cref="IncompatibleArtifactException"/>.</summary>
    public static ArtifactLayer From(ImageManifest manifest, string what)
    {
        if (manifest.Layers.Count != 1)
            throw new IncompatibleArtifactException($"{what} has {manifest.Layers.Count} layers; only single-layer artifacts (one file or one directory) are supported");
        var layer = manifest.Layers[0];
        var (kind, compression) = Classify(layer);
        var name = layer.Annotation(Annotations.Title) ?? (kind == ArtifactKind.File ? "artifact" : ".");
        if (kind == ArtifactKind.File && !IsSafeFileName(name))
            throw new IncompatibleArtifactException($"{what} names its file '{name}', which is not a plain file name");

        var contentDigest = layer.Digest;
        var contentSize = layer.Size;
        if (compression != LayerCompression.None)
        {
            if (layer.Annotation(DorasAnnotations.ContentDigest) is not { } d || !Digest.TryParse(d, out contentDigest))
                throw new IncompatibleArtifactException($"{what} has a compressed layer without a valid '{DorasAnnotations.ContentDigest}' annotation");
            if (!long.TryParse(layer.Annotation(DorasAnnotations.ContentSize), out contentSize) || contentSize < 0)
                throw new IncompatibleArtifactException($"{what} has a compressed layer without a valid '{DorasAnnotations.ContentSize}' annotation");
        }
        return new ArtifactLayer(layer, kind, name, compression, contentDigest, contentSize);
    }

    private static (ArtifactKind, LayerCompression) Classify(Descriptor layer)
    {
        var mediaType = layer.MediaType;
        var compression = mediaType.EndsWith("+zstd", StringComparison.Ordinal) ? LayerCompression.Zstd
            : mediaType.EndsWith("+gzip", StringComparison.Ordinal) ? LayerCompression.Gzip
            : LayerCompression.None;
        var isTar = mediaType.StartsWith(MediaTypes.LayerTar, StringComparison.Ordinal)
            || mediaType.StartsWith("application/x-tar", StringComparison.Ordinal)
            || layer.Annotation(Annotations.OrasUnpack) == "true";
        return (isTar ? ArtifactKind.Directory : ArtifactKind.File, compression);
    }

    private static bool IsSafeFileName(string name) =>
        name.Length is > 0 and <= 255 && name != "." && name != ".." && !name.Contains('/') && !name.Contains('\0');

    /// <summary>True when deltas between the two make sense: same kind of content.</summary>
    public bool IsCompatibleWith(ArtifactLayer other) => Kind == other.Kind;

    public DeltaTarget Target => new(ContentDigest, ContentSize);

    /// <summary>
    /// Wraps a stream of the layer's stored bytes (already verified against the layer digest by the store) into
    /// a stream of its uncompressed content, verified against the content digest and bounded by its size.
    /// </summary>
    public Stream OpenContent(Stream layerBytes)
    {
        Stream content = Compression switch
        {
            LayerCompression.Zstd => new ZstdDecoderStream(layerBytes, new ZstdDecompressionOptions { WindowLogMax = 31, MaxOutputBytes = ContentSize }),
            LayerCompression.Gzip => new System.IO.Compression.GZipStream(layerBytes, System.IO.Compression.CompressionMode.Decompress),
            _ => layerBytes,
        };
        return Compression == LayerCompression.None ? content : new VerifyingReadStream(content, ContentDigest, ContentSize);
    }

    /// <summary>
    /// Writes the layer's uncompressed content to a new file, flushed to disk, and verifies it against the
    /// content digest (<see cref="DigestMismatchException"/> otherwise). zstd layers decode straight into a
    /// memory map of the file, so memory does not grow with the layer's window.
    /// </summary>
    public async Task WriteContentAsync(Stream layerBytes, string path, CancellationToken ct = default)
    {
        if (Compression != LayerCompression.Zstd)
        {
            await using var content = OpenContent(layerBytes);
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await content.CopyToAsync(file, 1 << 17, ct).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
            return;
        }
        await ZstdFileDecoder.DecompressToFileAsync(layerBytes, path, ContentSize, ct: ct).ConfigureAwait(false);
        await using var written = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var actual = await Digest.ComputeAsync(written, ContentDigest.Algorithm, ct).ConfigureAwait(false);
        if (actual != ContentDigest)
            throw new DigestMismatchException($"content digest mismatch: expected {ContentDigest}, got {actual}");
    }

    /// <summary>Fetches the layer from a repository and writes its verified, uncompressed content to a file.</summary>
    public async Task<long> DownloadContentAsync(IReadOnlyOciRepository repository, string path, CancellationToken ct = default)
    {
        await using var layerStream = await repository.FetchAsync(Layer, ct).ConfigureAwait(false);
        File.Delete(path);
        await WriteContentAsync(layerStream, path, ct).ConfigureAwait(false);
        return Layer.Size;
    }
}

public enum LayerCompression { None, Zstd, Gzip }

/// <summary>Two artifacts a delta cannot be made between, or an artifact shape we do not handle (HTTP 406).</summary>
public sealed class IncompatibleArtifactException(string message) : Exception(message), IFailure
{
    public FailureKind Kind => FailureKind.Incompatible;
}

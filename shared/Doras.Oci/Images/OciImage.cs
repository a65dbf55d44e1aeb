using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Images;

/// <summary>
/// One layer of an image: its descriptor (media type, compressed digest and size), its <c>diff_id</c> (the digest of
/// its uncompressed tar, from the config) and how it is compressed.
/// </summary>
public sealed record ImageLayer(Descriptor Descriptor, Digest DiffId, LayerCompression Compression, bool IsForeign)
{
    /// <summary>
    /// The layer's uncompressed tar, read from <paramref name="repository"/>: the compressed bytes are checked against
    /// the layer's digest, the tar against its diff_id, and reading stops with an error past <paramref name="maxBytes"/>.
    /// </summary>
    public async Task<Stream> OpenUncompressedAsync(IReadOnlyOciRepository repository, long maxBytes, CancellationToken ct = default)
    {
        if (IsForeign) throw new NotSupportedException($"layer {Descriptor.Digest} is non-distributable: it is not read from the registry");
        var compressed = await repository.FetchAsync(Descriptor, ct).ConfigureAwait(false);
        return new DiffIdCheckingStream(LayerMediaTypes.Decompress(compressed, Compression), DiffId, maxBytes, $"layer {Descriptor.Digest}");
    }
}

/// <summary>
/// A container image as go-containerregistry's <c>v1.Image</c> sees one: its manifest (OCI or Docker schema 2, the
/// bytes as published), its config and its layers in order, each paired with its diff_id. Reading one checks what
/// can be checked without downloading layers: digests of manifest and config, one diff_id per layer, layer media types.
/// </summary>
public sealed record OciImage(Descriptor Descriptor, ImageManifest Manifest, byte[] ManifestBytes, ImageConfigFile Config, IReadOnlyList<ImageLayer> Layers)
{
    /// <summary>The image a manifest descriptor names (an index's platform entry already selected).</summary>
    public static async Task<OciImage> ReadAsync(IReadOnlyOciRepository repository, Descriptor descriptor, CancellationToken ct = default)
    {
        var what = $"{repository.Name}@{descriptor.Digest}";
        var bytes = await repository.FetchBytesAsync(descriptor, ct: ct).ConfigureAwait(false);
        var manifest = Parse(bytes, descriptor, what);
        var configBytes = await repository.FetchBytesAsync(manifest.Config, ct: ct).ConfigureAwait(false);
        return From(descriptor, bytes, configBytes, what);
    }

    /// <summary>
    /// The image from its manifest's and config's bytes as published (from a delta, say): both must be the ones
    /// <paramref name="descriptor"/> names, and agree with each other.
    /// </summary>
    public static OciImage From(Descriptor descriptor, byte[] manifestBytes, byte[] configBytes, string what)
    {
        var manifest = Parse(manifestBytes, descriptor, what);
        if (Digest.Compute(configBytes) != manifest.Config.Digest || configBytes.Length != manifest.Config.Size)
            throw new DigestMismatchException($"the config of {what} is not {manifest.Config.Digest}");
        var config = ImageConfigFile.Parse(configBytes, $"the config of {what}");
        if (config.DiffIds.Count != manifest.Layers.Count)
            throw new InvalidDataException($"{what} has {manifest.Layers.Count} layers but its config lists {config.DiffIds.Count} diff_ids");
        var layers = new List<ImageLayer>(manifest.Layers.Count);
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            var compression = LayerMediaTypes.CompressionOf(layer.MediaType)
                ?? throw new InvalidDataException($"layer {i} of {what} has media type '{layer.MediaType}', not an image layer");
            layers.Add(new ImageLayer(layer, config.DiffIds[i], compression, LayerMediaTypes.IsForeign(layer.MediaType)));
        }
        return new OciImage(descriptor, manifest, manifestBytes, config, layers);
    }

    private static ImageManifest Parse(byte[] bytes, Descriptor descriptor, string what)
    {
        if (Digest.Compute(bytes) != descriptor.Digest) throw new DigestMismatchException($"the manifest of {what} is not {descriptor.Digest}");
        var manifest = RepositoryExtensions.ParseManifest(bytes, descriptor);
        if (manifest.Layers.Count > ImageConfigFile.MaxLayers)
            throw new InvalidDataException($"{what} has {manifest.Layers.Count} layers; more than {ImageConfigFile.MaxLayers} is refused");
        if (manifest.Config.MediaType is not (MediaTypes.ImageConfig or LayerMediaTypes.DockerConfig))
            throw new InvalidDataException($"{what} is not a container image: its config is a '{manifest.Config.MediaType}'");
        return manifest;
    }

    /// <summary>Whether a manifest's config says it is a container image (not a Doras artifact or another OCI artifact).</summary>
    public static bool IsImage(ImageManifest manifest) => manifest.Config.MediaType is MediaTypes.ImageConfig or LayerMediaTypes.DockerConfig;
}

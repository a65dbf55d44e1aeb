using Doras.Delta.Vocabulary;
using Doras.Delta.Zstd;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Artifacts;

public sealed record PublishOptions
{
    /// <summary>Compress the layer with zstd (the full download gets smaller; deltas are still made between the uncompressed contents).</summary>
    public bool Compress { get; init; } = true;
    public int Level { get; init; } = 19;
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>Told the content bytes packed and compressed so far, while that runs (it can take long at high levels).</summary>
    public IProgress<long>? Packing { get; init; }

    /// <summary>Called once the layer is packed, before it is pushed (e.g. to set up progress reporting).</summary>
    public Action<Descriptor>? OnLayerReady { get; init; }
}

public sealed record PublishResult(Descriptor Manifest, ArtifactLayer Layer);

/// <summary>
/// Publishes a file, or a directory as a tar layer, as a single-layer OCI artifact: packed and compressed in
/// one streaming pass to a temporary file, pushed, then a manifest with an empty config and tagged.
/// </summary>
public static class ArtifactPublisher
{
    public static async Task<PublishResult> PublishAsync(IOciRepository repository, string path, IEnumerable<string> tags, PublishOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PublishOptions();
        tags = tags.Select(ReservedTags.EnsureUserTag).ToList(); // before any work: a refused tag leaves the store untouched
        var full = Path.GetFullPath(path);
        var kind = Directory.Exists(full) ? ArtifactKind.Directory
            : File.Exists(full) ? ArtifactKind.File
            : throw new FileNotFoundException($"nothing to publish at {path}");

        var temp = Path.Combine(Path.GetTempPath(), $"doras-publish-{Guid.NewGuid():N}");
        try
        {
            Digest contentDigest, layerDigest;
            long contentSize, layerSize;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var layerHash = new HashingWriteStream(file);
                Stream sink = layerHash;
                ZstdEncoderStream? encoder = null;
                // A file's size sizes zstd's tables (a small file's level-19 tables would otherwise be those for any size).
                var sizeHint = kind == ArtifactKind.File ? new FileInfo(full).Length : (long?)null;
                if (options.Compress) sink = encoder = new ZstdEncoderStream(layerHash, new ZstdCompressionOptions { Level = options.Level, LongDistanceMatching = true, WindowLog = 27, SizeHint = sizeHint }, leaveOpen: true);
                var contentHash = new HashingWriteStream(options.Packing is { } packing ? new CountingWriteStream(sink, packing) : sink);
                if (kind == ArtifactKind.Directory)
                    await TarPacking.PackAsync(full, contentHash, ct).ConfigureAwait(false);
                else
                {
                    await using var source = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    await source.CopyToAsync(contentHash, 1 << 17, ct).ConfigureAwait(false);
                }
                if (encoder is not null) await encoder.DisposeAsync().ConfigureAwait(false);
                (contentDigest, contentSize) = (contentHash.Digest, contentHash.BytesWritten);
                (layerDigest, layerSize) = (layerHash.Digest, layerHash.BytesWritten);
                file.Flush(flushToDisk: true);
            }

            var baseType = kind == ArtifactKind.Directory ? MediaTypes.LayerTar : MediaTypes.OctetStream;
            var annotations = new Dictionary<string, string>
            {
                [Annotations.Title] = kind == ArtifactKind.Directory ? Path.GetFileName(full.TrimEnd('/')) : Path.GetFileName(full),
            };
            if (kind == ArtifactKind.Directory) annotations[Annotations.OrasUnpack] = "true";
            else if (!OperatingSystem.IsWindows()) annotations[DorasAnnotations.FileMode] = Convert.ToString((int)File.GetUnixFileMode(full), 8);
            if (options.Compress)
            {
                annotations[DorasAnnotations.ContentDigest] = contentDigest.ToString();
                annotations[DorasAnnotations.ContentSize] = contentSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            var layer = new Descriptor
            {
                MediaType = options.Compress ? baseType + "+zstd" : baseType,
                Digest = layerDigest,
                Size = layerSize,
                Annotations = annotations,
            };
            options.OnLayerReady?.Invoke(layer);
            await using (var blob = new FileStream(temp, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await repository.PushAsync(layer, blob, ct).ConfigureAwait(false);
            await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);

            var manifestAnnotations = new Dictionary<string, string>(options.Annotations ?? new Dictionary<string, string>())
            {
                // Milliseconds: two releases in one second still have an order (a device refuses an older signed one).
                [Annotations.Created] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
            };
            var manifest = new ImageManifest
            {
                ArtifactType = DorasMediaTypes.Artifact,
                Config = Descriptor.EmptyJson,
                Layers = [layer],
                Annotations = manifestAnnotations,
            };
            var descriptor = await repository.PushManifestAsync(manifest, tags, ct).ConfigureAwait(false);
            return new PublishResult(descriptor, ArtifactLayer.From(manifest, descriptor.Digest.ToString()));
        }
        finally
        {
            File.Delete(temp);
        }
    }
}

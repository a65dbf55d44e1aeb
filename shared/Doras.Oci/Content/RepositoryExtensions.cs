using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>Manifest-level operations built on the blob-level store interfaces.</summary>
public static class RepositoryExtensions
{
    /// <summary>Resolves a tag or digest, throwing <see cref="NotFoundException"/> when it is unknown.</summary>
    public static async Task<Descriptor> ResolveAsync(this IReadOnlyOciRepository repository, string tagOrDigest, CancellationToken ct = default) =>
        await repository.TryResolveAsync(tagOrDigest, ct).ConfigureAwait(false)
        ?? throw new NotFoundException($"{repository.Name}:{tagOrDigest} not found");

    /// <summary>Fetches a whole small blob (a manifest or config) into memory, verified, with a size cap.</summary>
    public static async Task<byte[]> FetchBytesAsync(this IReadOnlyOciRepository repository, Descriptor descriptor, int maxBytes = OciJson.MaxManifestBytes, CancellationToken ct = default)
    {
        if (descriptor.Size > maxBytes || descriptor.Size < 0)
            throw new InvalidDataException($"{descriptor.Digest} is {descriptor.Size} bytes, over the limit of {maxBytes}");
        var buffer = new byte[descriptor.Size];
        await using var stream = await repository.FetchAsync(descriptor, ct).ConfigureAwait(false);
        await stream.ReadExactlyAsync(buffer, ct).ConfigureAwait(false);
        // Reading past the end makes the verifying stream check the digest.
        if (await stream.ReadAsync(new byte[1], ct).ConfigureAwait(false) != 0)
            throw new DigestMismatchException($"{descriptor.Digest} is longer than {descriptor.Size} bytes");
        return buffer;
    }

    /// <summary>Fetches and parses an image manifest, refusing indexes and Docker schema 1.</summary>
    public static async Task<ImageManifest> FetchManifestAsync(this IReadOnlyOciRepository repository, Descriptor descriptor, CancellationToken ct = default)
    {
        var bytes = await repository.FetchBytesAsync(descriptor, ct: ct).ConfigureAwait(false);
        return ParseManifest(bytes, descriptor);
    }

    public static ImageManifest ParseManifest(ReadOnlySpan<byte> bytes, Descriptor descriptor)
    {
        var mediaType = OciJson.PeekMediaType(bytes) ?? descriptor.MediaType;
        if (mediaType is MediaTypes.DockerManifestSchema1 or MediaTypes.DockerManifestSchema1Signed)
            throw new InvalidDataException($"{descriptor.Digest} is a Docker schema 1 manifest, which is deprecated and not supported");
        if (MediaTypes.IsIndex(mediaType))
            throw new InvalidDataException($"{descriptor.Digest} is an image index, not a single artifact manifest");
        if (!MediaTypes.IsManifest(mediaType))
            throw new InvalidDataException($"{descriptor.Digest} has media type '{mediaType}', not an image manifest");
        return OciJson.Deserialize<ImageManifest>(bytes, $"manifest {descriptor.Digest}");
    }

    /// <summary>Stores a small blob held in memory.</summary>
    public static async Task<Descriptor> PushBytesAsync(this IOciRepository repository, string mediaType, byte[] content, CancellationToken ct = default)
    {
        var descriptor = Descriptor.FromBytes(mediaType, content);
        if (!await repository.ExistsAsync(descriptor, ct).ConfigureAwait(false))
            await repository.PushAsync(descriptor, new MemoryStream(content, writable: false), ct).ConfigureAwait(false);
        return descriptor;
    }

    /// <summary>Stores a manifest (its blobs must already be stored) and points the given tags at it.</summary>
    public static Task<Descriptor> PushManifestAsync(this IOciRepository repository, ImageManifest manifest, IEnumerable<string> tags, CancellationToken ct = default) =>
        repository.PushTaggedAsync(manifest.MediaType ?? MediaTypes.ImageManifest, OciJson.Serialize(manifest), manifest.ArtifactType, tags, ct);

    /// <summary>Stores an image index (the manifests it lists must already be stored) and points the given tags at it.</summary>
    public static async Task<Descriptor> PushIndexAsync(this IOciRepository repository, ImageIndex index, IEnumerable<string> tags, CancellationToken ct = default)
    {
        foreach (var entry in index.Manifests)
            if (!await repository.ExistsAsync(entry, ct).ConfigureAwait(false))
                throw new NotFoundException($"cannot store the index in {repository.Name}: its manifest {entry.Digest} is not stored");
        return await repository.PushTaggedAsync(index.MediaType ?? MediaTypes.ImageIndex, OciJson.Serialize(index), index.ArtifactType, tags, ct).ConfigureAwait(false);
    }

    /// <summary>Stores a serialized manifest or index, then points the tags at it.</summary>
    private static async Task<Descriptor> PushTaggedAsync(this IOciRepository repository, string mediaType, byte[] bytes, string? artifactType, IEnumerable<string> tags, CancellationToken ct)
    {
        var descriptor = Descriptor.FromBytes(mediaType, bytes) with { ArtifactType = artifactType };
        await repository.PushAsync(descriptor, new MemoryStream(bytes, writable: false), ct).ConfigureAwait(false);
        foreach (var tag in tags)
            await repository.TagAsync(descriptor, tag, ct).ConfigureAwait(false);
        return descriptor;
    }
}

/// <summary>Resolving a reference to the single artifact manifest behind it, through an image index if need be.</summary>
public static class ArtifactResolution
{
    /// <summary>The manifest a tag or digest names; for an index, the entry for <paramref name="platform"/> (the host's by default).</summary>
    public static async Task<(Descriptor Descriptor, ImageManifest Manifest)> ResolveManifestAsync(this IReadOnlyOciRepository repository, string tagOrDigest, Platform? platform = null, CancellationToken ct = default)
    {
        var descriptor = await repository.ResolvePlatformAsync(tagOrDigest, platform, ct).ConfigureAwait(false);
        return (descriptor, await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false));
    }

    /// <summary>
    /// The descriptor of the manifest a tag or digest names; for an image index, of its entry for
    /// <paramref name="platform"/> (the host's by default). Deltas are made between these platform manifests.
    /// </summary>
    public static async Task<Descriptor> ResolvePlatformAsync(this IReadOnlyOciRepository repository, string tagOrDigest, Platform? platform = null, CancellationToken ct = default)
    {
        var descriptor = await repository.ResolveAsync(tagOrDigest, ct).ConfigureAwait(false);
        if (!MediaTypes.IsIndex(descriptor.MediaType)) return descriptor;
        var bytes = await repository.FetchBytesAsync(descriptor, ct: ct).ConfigureAwait(false);
        var what = Digest.TryParse(tagOrDigest, out _) ? $"{repository.Name}@{tagOrDigest}" : $"{repository.Name}:{tagOrDigest}";
        var index = OciJson.Deserialize<ImageIndex>(bytes, $"index {what}");
        var entry = Platforms.Select(index, platform ?? Platforms.Host, what);
        if (!MediaTypes.IsManifest(entry.MediaType))
            throw new InvalidDataException($"the {Platforms.Format(platform ?? Platforms.Host)} entry of {what} is a '{entry.MediaType}', not an image manifest");
        return entry;
    }
}

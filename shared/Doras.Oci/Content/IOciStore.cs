using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>A place that holds repositories of OCI content: a layout directory or a registry.</summary>
public interface IOciStore
{
    /// <summary>A handle on one repository; it need not exist yet.</summary>
    IOciRepository Repository(string name);
}

/// <summary>Reading from one repository: enough for a device that only downloads.</summary>
public interface IReadOnlyOciRepository
{
    string Name { get; }

    /// <summary>The descriptor of the manifest a tag or digest names, or null when there is none.</summary>
    Task<Descriptor?> TryResolveAsync(string tagOrDigest, CancellationToken ct = default);

    /// <summary>A stream of the content, verified against the descriptor's digest and size as it is read.</summary>
    Task<Stream> FetchAsync(Descriptor descriptor, CancellationToken ct = default);

    Task<bool> ExistsAsync(Descriptor descriptor, CancellationToken ct = default);

    /// <summary>
    /// The blob's bytes from <paramref name="offset"/> on, not verified (the caller hashes the bytes it already
    /// has plus these): for continuing a download kept on disk.
    /// </summary>
    Task<Stream> FetchFromAsync(Descriptor descriptor, long offset, CancellationToken ct = default);

    IAsyncEnumerable<string> ListTagsAsync(CancellationToken ct = default);
}

/// <summary>Reading and writing one repository. The other abilities a store may have are in <c>StoreRoles.cs</c>.</summary>
public interface IOciRepository : IReadOnlyOciRepository, IContentPusher, ITagger;

/// <summary>A store whose blobs can be opened for random access (serving HTTP ranges, memory-mapping).</summary>
public interface ISeekableBlobSource
{
    /// <summary>A seekable, unverified stream of a stored blob (its length known), or null when it is not stored.</summary>
    Task<Stream?> OpenSeekableAsync(Digest digest, CancellationToken ct = default);
}

using Doras.Oci.Model;

namespace Doras.Oci.Content;

// What a store can do beyond reading, one ability per interface (as oras-go's content and registry interfaces and
// go-containerregistry's remote options are cut): a caller asks a store for the ability it needs
// (`store is IManifestDeleter deleter`), never for the kind of store it is, so a new store works wherever it has
// the abilities asked for.

/// <summary>Stores content under its digest. Apart from tagging: a mirror of blobs need not name anything.</summary>
public interface IContentPusher
{
    /// <summary>Stores content under the descriptor's digest, refusing it unless digest and size match.</summary>
    Task PushAsync(Descriptor expected, Stream content, CancellationToken ct = default);
}

/// <summary>Points tags at manifests. Apart from pushing: content is stored once and named many times.</summary>
public interface ITagger
{
    /// <summary>Points a tag at a manifest that is already stored.</summary>
    Task TagAsync(Descriptor manifest, string tag, CancellationToken ct = default);
}

/// <summary>Deletes manifests by digest: the distribution API's only way to take a tag away.</summary>
public interface IManifestDeleter
{
    /// <summary>Deletes the manifest and with it every tag pointing to it; <see cref="NotFoundException"/> when it is not there.</summary>
    Task DeleteManifestAsync(Digest digest, CancellationToken ct = default);
}

/// <summary>Deletes a blob by digest: a registry holds blobs per repository, so one can be taken out of one.</summary>
public interface IBlobDeleter
{
    /// <summary><see cref="NotFoundException"/> when the blob is not there.</summary>
    Task DeleteBlobAsync(Digest digest, CancellationToken ct = default);
}

/// <summary>
/// Removes one tag and nothing else, which a registry cannot (see <see cref="TagRemoval"/>): a store that can keeps
/// other tags on the same manifest untouched.
/// </summary>
public interface IUntagger
{
    /// <summary>
    /// Removes the tag only while it still names <paramref name="onlyIfAt"/> (checked and done at once), so a tag
    /// decided on from an earlier read and moved since is left alone.
    /// </summary>
    Task UntagAsync(string tag, Digest onlyIfAt, CancellationToken ct = default);
}

/// <summary>Lists the manifests that refer to a subject: how signatures, SBOMs and other attachments are found.</summary>
public interface IReferrerLister
{
    /// <summary>The manifests whose <c>subject</c> is <paramref name="subject"/>, each with its artifactType; optionally only those of one artifactType.</summary>
    /// <param name="limit">Stop after this many (plus one, so the caller sees there were more): a hostile registry's list does not grow memory.</param>
    Task<IReadOnlyList<Descriptor>> ReferrersAsync(Digest subject, string? artifactType = null, CancellationToken ct = default, int limit = Remote.Pagination.MaxItems);
}

/// <summary>Tells whether a push would be accepted, before expensive work is done for nothing; only stores that may refuse one have it.</summary>
public interface IPushPermission
{
    Task<bool> CanPushAsync(CancellationToken ct = default);
}

/// <summary>Describes a manifest without reading it: where reading costs a download (a registry's HEAD), this is cheaper than resolving.</summary>
public interface IManifestStat
{
    /// <summary>The descriptor of the manifest a tag or digest names, or null when there is none.</summary>
    Task<Descriptor?> StatManifestAsync(string tagOrDigest, CancellationToken ct = default);
}

/// <summary>
/// Takes a blob over from another repository without transferring its bytes (a registry's cross-repository mount),
/// which saves the whole download and upload when both repositories live in one place.
/// </summary>
public interface IBlobMounter
{
    /// <summary>True when the blob is now stored here; false when this store cannot take it from <paramref name="source"/> (then copy it).</summary>
    Task<bool> TryMountFromAsync(Descriptor blob, IReadOnlyOciRepository source, CancellationToken ct = default);
}

/// <summary>
/// Removes the blobs that nothing tagged refers to any more. A store with this ability collects its own garbage, so
/// content that lost its last tag needs no deletion; a registry keeps an untagged manifest until it is deleted.
/// </summary>
public interface IGarbageSweeper
{
    /// <param name="untagged">Tags (with the manifest each names) to count as gone: a dry run has not removed them yet, and must free the same blobs.</param>
    /// <param name="grace">Blobs younger than this stay: a push stores its blobs before the manifest that refers to them is tagged.</param>
    /// <param name="dryRun">Compute exactly what a real run removes, and remove nothing.</param>
    Task<SweepResult> SweepAsync(IReadOnlySet<(string Tag, Digest Digest)> untagged, TimeSpan grace, bool dryRun, CancellationToken ct = default);
}

/// <param name="Removed">The blobs removed (in a dry run: that would be), with their sizes.</param>
/// <param name="SkippedBecause">Why nothing was removed at all: a manifest the sweep cannot read.</param>
public sealed record SweepResult(IReadOnlyList<(Digest Digest, long Size)> Removed, string? SkippedBecause)
{
    public long Bytes => Removed.Sum(r => r.Size);
}

/// <summary>
/// A lock every process using the repository honours, for a read-decide-write the store cannot make atomic by itself
/// (a layout directory written by several processes). A registry has none: there, the registry's answer decides.
/// </summary>
public interface IRepositoryLock
{
    /// <param name="purpose">Names the lock: locks of different purposes do not exclude each other.</param>
    Task<IDisposable> LockAsync(string purpose, TimeSpan timeout, CancellationToken ct = default);
}

/// <summary>Lists the repositories a store holds, so work over all of them (garbage collection) needs no list of names.</summary>
public interface IRepositoryLister
{
    IAsyncEnumerable<string> ListRepositoriesAsync(CancellationToken ct = default);
}

/// <summary>
/// A cheap value that changes whenever a repository's tags change, so what was worked out from them can be reused
/// until then without reading them again. A registry offers none: it is asked each time.
/// </summary>
public interface IChangeStamps
{
    /// <summary>Equal stamps mean the tags did not change in between; null when the repository holds nothing.</summary>
    string? ChangeStamp(string repository);
}

/// <summary>Checks that the store can work now (a readiness check); throws what is wrong.</summary>
public interface IStoreProbe
{
    Task ProbeAsync(CancellationToken ct = default);
}

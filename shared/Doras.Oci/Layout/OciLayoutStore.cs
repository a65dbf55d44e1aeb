using System.Runtime.CompilerServices;
using Doras.Oci.Content;
using Doras.Oci.IO;
using Doras.Oci.Model;

namespace Doras.Oci.Layout;

/// <summary>
/// The embedded store: a directory holding one standard OCI image layout per repository
/// (<c>ROOT/&lt;repository&gt;/{oci-layout,index.json,blobs/&lt;alg&gt;/&lt;hex&gt;}</c>), so each repository is
/// readable as <c>oci:ROOT/&lt;repository&gt;:TAG</c> by skopeo and other OCI tools.
/// </summary>
public sealed class OciLayoutStore(string root) : IOciStore, IRepositoryLister, IChangeStamps, IStoreProbe
{
    public string Root { get; } = Path.GetFullPath(root);

    public IOciRepository Repository(string name) => Open(name);

    public IAsyncEnumerable<string> ListRepositoriesAsync(CancellationToken ct = default) => ListRepositories().ToAsyncEnumerable();

    /// <summary>The repository's <c>index.json</c> as it is now (modification time and size: one <c>stat</c>); every tag written changes it.</summary>
    public string? ChangeStamp(string repository)
    {
        var index = new FileInfo(Path.Combine(Open(repository).Directory, "index.json"));
        return index.Exists ? $"{index.LastWriteTimeUtc.Ticks}/{index.Length}" : null;
    }

    /// <summary>Writes and removes a probe file in the store directory: throws when it is not writable.</summary>
    public async Task ProbeAsync(CancellationToken ct = default)
    {
        var probe = Path.Combine(Root, $".doras-ready-{Guid.NewGuid():N}");
        await File.WriteAllBytesAsync(probe, [1], ct).ConfigureAwait(false);
        File.Delete(probe);
    }

    /// <summary>The repositories in the store (directories holding an <c>oci-layout</c>), sorted; links are not followed.</summary>
    public IEnumerable<string> ListRepositories()
    {
        if (!System.IO.Directory.Exists(Root)) return [];
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, MaxRecursionDepth = 32 };
        return System.IO.Directory.EnumerateFiles(Root, "oci-layout", options)
            .Select(marker => Path.GetRelativePath(Root, Path.GetDirectoryName(marker)!).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(Reference.IsValidRepository)
            .Order(StringComparer.Ordinal);
    }

    public OciLayoutRepository Open(string name)
    {
        if (!Reference.IsValidRepository(name))
            throw new FormatException($"invalid repository name '{name}'");
        return new OciLayoutRepository(name, Path.Combine(Root, name));
    }
}

/// <summary>One OCI image layout directory. Safe for concurrent writers in this and other processes.</summary>
public sealed partial class OciLayoutRepository(string name, string directory)
    : IOciRepository, ISeekableBlobSource, IManifestStat, IManifestDeleter, IUntagger, IReferrerLister, IRepositoryLock, IGarbageSweeper
{
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    public string Name { get; } = name;
    public string Directory { get; } = directory;

    private string IndexPath => Path.Combine(Directory, "index.json");
    private string BlobPath(Digest digest) => Path.Combine(Directory, "blobs", digest.Algorithm, digest.Hex);

    public async Task<Descriptor?> TryResolveAsync(string tagOrDigest, CancellationToken ct = default)
    {
        if (Digest.TryParse(tagOrDigest, out var digest))
            return await DescribeStoredManifestAsync(digest, ct).ConfigureAwait(false);
        Reference.ValidateTag(tagOrDigest);
        var index = await ReadIndexAsync(ct).ConfigureAwait(false);
        return index.Manifests.LastOrDefault(m => m.Annotation(Annotations.RefName) == tagOrDigest);
    }

    private async Task<Descriptor?> DescribeStoredManifestAsync(Digest digest, CancellationToken ct)
    {
        // Prefer the descriptor index.json has (it carries artifactType and annotations).
        var index = await ReadIndexAsync(ct).ConfigureAwait(false);
        var listed = index.Manifests.FirstOrDefault(m => m.Digest == digest);
        if (listed is not null) return listed with { Annotations = null };
        var path = BlobPath(digest);
        if (!File.Exists(path)) return null;
        var size = new FileInfo(path).Length;
        if (size > OciJson.MaxManifestBytes) return null;
        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        string? mediaType;
        try { mediaType = OciJson.PeekMediaType(bytes); }
        catch (InvalidDataException) { return null; } // a blob, not a manifest
        return mediaType is null ? null : new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
    }

    public Task<Stream> FetchAsync(Descriptor descriptor, CancellationToken ct = default)
    {
        var stream = OpenSeekable(descriptor.Digest)
            ?? throw new NotFoundException($"{Name}@{descriptor.Digest} not found");
        return Task.FromResult<Stream>(new VerifyingReadStream(stream, descriptor.Digest, descriptor.Size));
    }

    public Task<Stream> FetchFromAsync(Descriptor descriptor, long offset, CancellationToken ct = default)
    {
        var stream = OpenSeekable(descriptor.Digest) ?? throw new NotFoundException($"{Name}@{descriptor.Digest} not found");
        stream.Seek(Math.Clamp(offset, 0, stream.Length), SeekOrigin.Begin);
        return Task.FromResult(stream);
    }

    public Task<Stream?> OpenSeekableAsync(Digest digest, CancellationToken ct = default) => Task.FromResult(OpenSeekable(digest));

    /// <summary>A seekable, unverified stream of a stored blob, or null when it is not stored.</summary>
    public Stream? OpenSeekable(Digest digest)
    {
        try
        {
            return new FileStream(BlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, FileOptions.Asynchronous);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public Task<bool> ExistsAsync(Descriptor descriptor, CancellationToken ct = default)
    {
        var info = new FileInfo(BlobPath(descriptor.Digest));
        return Task.FromResult(info.Exists && info.Length == descriptor.Size);
    }

    /// <summary>The same as resolving: the layout's index already has the descriptor, and a manifest is a local file.</summary>
    public Task<Descriptor?> StatManifestAsync(string tagOrDigest, CancellationToken ct = default) => TryResolveAsync(tagOrDigest, ct);

    public async IAsyncEnumerable<string> ListTagsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var index = await ReadIndexAsync(ct).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in index.Manifests)
            if (m.Annotation(Annotations.RefName) is { } tag && seen.Add(tag))
                yield return tag;
    }

    public async Task PushAsync(Descriptor expected, Stream content, CancellationToken ct = default)
    {
        EnsureLayout();
        var final = BlobPath(expected.Digest);
        if (File.Exists(final) && new FileInfo(final).Length == expected.Size) return;

        var ingest = Path.Combine(Directory, ".ingest");
        System.IO.Directory.CreateDirectory(ingest);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        var temp = Path.Combine(ingest, $"{expected.Digest.Hex}.{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            await using (var verified = new VerifyingReadStream(content, expected.Digest, expected.Size, leaveOpen: true))
            {
                await verified.CopyToAsync(file, ct).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            // Content-addressed: if a concurrent writer got there first, its file has the same bytes.
            try { Durable.MoveDurably(temp, final, overwrite: false); }
            catch (IOException) when (File.Exists(final)) { }
        }
        finally
        {
            Durable.TryDelete(temp);
        }
    }

    public async Task TagAsync(Descriptor manifest, string tag, CancellationToken ct = default)
    {
        Reference.ValidateTag(tag);
        if (!File.Exists(BlobPath(manifest.Digest)))
            throw new NotFoundException($"cannot tag {Name}:{tag}: manifest {manifest.Digest} is not stored");
        await UpdateIndexAsync(manifests =>
        {
            manifests.RemoveAll(m => m.Annotation(Annotations.RefName) == tag);
            manifests.Add(manifest with { Annotations = new Dictionary<string, string> { [Annotations.RefName] = tag } });
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes a manifest as a registry does: every tag pointing to it goes (its blob stays: the store is
    /// content-addressed, and an index may still list it). <see cref="NotFoundException"/> when no tag points to it.
    /// </summary>
    public async Task DeleteManifestAsync(Digest digest, CancellationToken ct = default)
    {
        var removed = 0;
        await UpdateIndexAsync(manifests => removed = manifests.RemoveAll(m => m.Digest == digest), ct).ConfigureAwait(false);
        if (removed == 0) throw new NotFoundException($"manifest {Name}@{digest} not found in the store's index");
    }

    /// <summary>Removes a tag (the manifest and blobs stay; they are content-addressed).</summary>
    public Task UntagAsync(string tag, CancellationToken ct = default) => UntagAsync(tag, onlyIfAt: null, ct);

    public Task UntagAsync(string tag, Digest onlyIfAt, CancellationToken ct = default) => UntagAsync(tag, (Digest?)onlyIfAt, ct);

    /// <summary>
    /// Removes a tag only while it still names <paramref name="onlyIfAt"/> (checked and done under the index lock):
    /// a tag decided on from an earlier read (garbage collection, a sync) and moved since, by another process or
    /// instance, is left alone. Null removes it whatever it names.
    /// </summary>
    public Task UntagAsync(string tag, Digest? onlyIfAt, CancellationToken ct = default) =>
        UpdateIndexAsync(manifests => manifests.RemoveAll(m => m.Annotation(Annotations.RefName) == tag && (onlyIfAt is null || m.Digest == onlyIfAt)), ct);

    /// <summary>
    /// Reads every blob small enough to be a manifest (a referrer need not be tagged, and the layout keeps no list of
    /// untagged manifests), once per change of the blob directories: the result is kept, keyed by their modification
    /// times (a blob stored or removed is a rename in or out of one), so a fleet of devices asking for signatures does
    /// not make every request read the whole repository.
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>> ReferrersAsync(Digest subject, string? artifactType = null, CancellationToken ct = default, int limit = Remote.Pagination.MaxItems)
    {
        var all = await AllReferrersAsync(ct).ConfigureAwait(false);
        return all.TryGetValue(subject, out var found)
            ? [.. found.Where(r => artifactType is null || r.ArtifactType == artifactType).Take(limit + 1)]
            : [];
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Stamp, Dictionary<Digest, List<Descriptor>> Referrers)> ReferrerScans = new();

    private async Task<Dictionary<Digest, List<Descriptor>>> AllReferrersAsync(CancellationToken ct)
    {
        var blobs = Path.Combine(Directory, "blobs");
        if (!System.IO.Directory.Exists(blobs)) return [];
        var algorithms = System.IO.Directory.GetDirectories(blobs);
        var stamp = string.Join('/', algorithms.Order(StringComparer.Ordinal).Select(a => System.IO.Directory.GetLastWriteTimeUtc(a).Ticks));
        if (ReferrerScans.TryGetValue(Directory, out var cached) && cached.Stamp == stamp) return cached.Referrers;
        var referrers = new Dictionary<Digest, List<Descriptor>>();
        foreach (var algorithm in algorithms)
        foreach (var file in System.IO.Directory.EnumerateFiles(algorithm))
        {
            if (!Digest.TryParse($"{Path.GetFileName(algorithm)}:{Path.GetFileName(file)}", out var digest)) continue;
            var info = new FileInfo(file);
            if (info.Length > OciJson.MaxManifestBytes) continue;
            byte[] bytes;
            try { bytes = await File.ReadAllBytesAsync(file, ct).ConfigureAwait(false); }
            catch (FileNotFoundException) { continue; } // swept meanwhile
            if (Referrers.SubjectOf(bytes, digest) is { } found)
            {
                if (!referrers.TryGetValue(found.Subject, out var list)) referrers[found.Subject] = list = [];
                list.Add(found.Referrer);
            }
        }
        ReferrerScans[Directory] = (stamp, referrers);
        return referrers;
    }

    /// <summary>A file lock beside <c>index.json</c> (<c>.PURPOSE.lock</c>), held across processes.</summary>
    public async Task<IDisposable> LockAsync(string purpose, TimeSpan timeout, CancellationToken ct = default) =>
        await FileLock.AcquireAsync(Path.Combine(Directory, $".{purpose}.lock"), timeout, ct).ConfigureAwait(false);

    private async Task UpdateIndexAsync(Action<List<Descriptor>> change, CancellationToken ct)
    {
        EnsureLayout();
        using var _ = await FileLock.AcquireAsync(Path.Combine(Directory, ".index.lock"), LockTimeout, ct).ConfigureAwait(false);
        var index = await ReadIndexAsync(ct).ConfigureAwait(false);
        var manifests = index.Manifests.ToList();
        change(manifests);
        var bytes = OciJson.Serialize(index with { Manifests = manifests });
        await Durable.WriteAllBytesAtomicAsync(IndexPath, bytes, ct).ConfigureAwait(false);
    }

    private async Task<ImageIndex> ReadIndexAsync(CancellationToken ct)
    {
        byte[] bytes;
        try { bytes = await File.ReadAllBytesAsync(IndexPath, ct).ConfigureAwait(false); }
        catch (FileNotFoundException) { return EmptyIndex; }
        catch (DirectoryNotFoundException) { return EmptyIndex; }
        return OciJson.Deserialize<ImageIndex>(bytes, $"{IndexPath}");
    }

    private static readonly ImageIndex EmptyIndex = new() { Manifests = [] };

    private void EnsureLayout()
    {
        var marker = Path.Combine(Directory, "oci-layout");
        if (File.Exists(marker)) return;
        System.IO.Directory.CreateDirectory(Directory);
        try
        {
            using var stream = new FileStream(marker, FileMode.CreateNew, FileAccess.Write);
            stream.Write("{\"imageLayoutVersion\":\"1.0.0\"}"u8);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(marker)) { }
    }
}

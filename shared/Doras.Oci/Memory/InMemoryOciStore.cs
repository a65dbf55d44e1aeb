using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Memory;

/// <summary>
/// A store held in memory: repositories appear on their first write and vanish with the store. For tests and for
/// programs that stage an artifact before copying it elsewhere (<see cref="GraphCopy"/>), without a directory or a
/// registry. Manifests behave as in a registry (deleting one takes its tags; an untagged one stays until deleted),
/// tags as in a layout (one can be removed alone).
/// </summary>
public sealed class InMemoryOciStore : IOciStore, IRepositoryLister, IChangeStamps
{
    private readonly ConcurrentDictionary<string, InMemoryOciRepository> _repositories = new(StringComparer.Ordinal);

    public IOciRepository Repository(string name) => Open(name);

    public InMemoryOciRepository Open(string name) => Reference.IsValidRepository(name)
        ? _repositories.GetOrAdd(name, n => new InMemoryOciRepository(n, this))
        : throw new FormatException($"invalid repository name '{name}'");

    /// <summary>The repositories that hold anything, sorted.</summary>
    public async IAsyncEnumerable<string> ListRepositoriesAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.Yield();
        foreach (var name in _repositories.Where(r => !r.Value.IsEmpty).Select(r => r.Key).Order(StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            yield return name;
        }
    }

    /// <summary>How many times the repository's tags were written: every tag, untag and manifest deletion counts.</summary>
    public string? ChangeStamp(string repository) =>
        _repositories.TryGetValue(repository, out var held) && held.TagWrites > 0 ? held.TagWrites.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}

/// <summary>One repository of an <see cref="InMemoryOciStore"/>. Safe for concurrent callers: each operation is atomic.</summary>
public sealed class InMemoryOciRepository : IOciRepository, ISeekableBlobSource, IManifestStat, IManifestDeleter, IBlobDeleter, IUntagger,
    IReferrerLister, IBlobMounter
{
    private readonly object _gate = new();
    private readonly InMemoryOciStore _store;
    private readonly Dictionary<Digest, byte[]> _blobs = [];
    private readonly Dictionary<Digest, (string MediaType, byte[] Bytes)> _manifests = [];
    private readonly Dictionary<string, Digest> _tags = new(StringComparer.Ordinal);

    internal InMemoryOciRepository(string name, InMemoryOciStore store) => (Name, _store) = (name, store);

    public string Name { get; }

    internal long TagWrites { get; private set; }

    internal bool IsEmpty
    {
        get { lock (_gate) return _blobs.Count == 0 && _manifests.Count == 0 && _tags.Count == 0; }
    }

    public Task<Descriptor?> TryResolveAsync(string tagOrDigest, CancellationToken ct = default)
    {
        var byDigest = Digest.TryParse(tagOrDigest, out var digest);
        if (!byDigest) Reference.ValidateTag(tagOrDigest);
        lock (_gate)
        {
            if (!byDigest && !_tags.TryGetValue(tagOrDigest, out digest)) return Task.FromResult<Descriptor?>(null);
            return Task.FromResult(_manifests.TryGetValue(digest, out var manifest)
                ? new Descriptor { MediaType = manifest.MediaType, Digest = digest, Size = manifest.Bytes.Length }
                : null);
        }
    }

    public Task<Descriptor?> StatManifestAsync(string tagOrDigest, CancellationToken ct = default) => TryResolveAsync(tagOrDigest, ct);

    public Task<Stream> FetchAsync(Descriptor descriptor, CancellationToken ct = default)
    {
        var bytes = Find(descriptor.Digest) ?? throw new NotFoundException($"{Name}@{descriptor.Digest} not found");
        return Task.FromResult<Stream>(new VerifyingReadStream(new MemoryStream(bytes, writable: false), descriptor.Digest, descriptor.Size));
    }

    public Task<Stream> FetchFromAsync(Descriptor descriptor, long offset, CancellationToken ct = default)
    {
        var bytes = Find(descriptor.Digest) ?? throw new NotFoundException($"{Name}@{descriptor.Digest} not found");
        var stream = new MemoryStream(bytes, writable: false);
        stream.Position = Math.Clamp(offset, 0, bytes.Length);
        return Task.FromResult<Stream>(stream);
    }

    public Task<Stream?> OpenSeekableAsync(Digest digest, CancellationToken ct = default) =>
        Task.FromResult<Stream?>(Find(digest) is { } bytes ? new MemoryStream(bytes, writable: false) : null);

    public Task<bool> ExistsAsync(Descriptor descriptor, CancellationToken ct = default) =>
        Task.FromResult(Find(descriptor.Digest) is { } bytes && bytes.Length == descriptor.Size);

    public async IAsyncEnumerable<string> ListTagsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.Yield();
        List<string> tags;
        lock (_gate) tags = [.. _tags.Keys.Order(StringComparer.Ordinal)];
        foreach (var tag in tags)
        {
            ct.ThrowIfCancellationRequested();
            yield return tag;
        }
    }

    public async Task PushAsync(Descriptor expected, Stream content, CancellationToken ct = default)
    {
        var isManifest = MediaTypes.IsManifest(expected.MediaType) || MediaTypes.IsIndex(expected.MediaType);
        if (isManifest && expected.Size > OciJson.MaxManifestBytes)
            throw new InvalidDataException($"manifest {expected.Digest} is larger than {OciJson.MaxManifestBytes} bytes");
        if (expected.Size < 0 || expected.Size > Array.MaxLength) throw new InvalidDataException($"{expected.Digest}: {expected.Size} bytes do not fit in memory");
        var bytes = new byte[expected.Size];
        await using (var verified = new VerifyingReadStream(content, expected.Digest, expected.Size, leaveOpen: true))
        {
            await verified.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
            if (await verified.ReadAsync(new byte[1], ct).ConfigureAwait(false) != 0) // checks the digest of all bytes
                throw new DigestMismatchException($"content of {expected.Digest} is longer than {expected.Size} bytes");
        }
        lock (_gate)
        {
            if (isManifest) _manifests[expected.Digest] = (expected.MediaType, bytes);
            else _blobs[expected.Digest] = bytes;
        }
    }

    public Task TagAsync(Descriptor manifest, string tag, CancellationToken ct = default)
    {
        Reference.ValidateTag(tag);
        lock (_gate)
        {
            if (!_manifests.ContainsKey(manifest.Digest))
                throw new NotFoundException($"cannot tag {Name}:{tag}: manifest {manifest.Digest} is not stored");
            _tags[tag] = manifest.Digest;
            TagWrites++;
        }
        return Task.CompletedTask;
    }

    public Task UntagAsync(string tag, Digest onlyIfAt, CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (_tags.TryGetValue(tag, out var at) && at == onlyIfAt)
            {
                _tags.Remove(tag);
                TagWrites++;
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Deletes a manifest and every tag pointing to it, as a registry does.</summary>
    public Task DeleteManifestAsync(Digest digest, CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (!_manifests.Remove(digest)) throw new NotFoundException($"manifest {Name}@{digest} not found");
            foreach (var tag in _tags.Where(t => t.Value == digest).Select(t => t.Key).ToList()) _tags.Remove(tag);
            TagWrites++;
        }
        return Task.CompletedTask;
    }

    public Task DeleteBlobAsync(Digest digest, CancellationToken ct = default)
    {
        lock (_gate)
            if (!_blobs.Remove(digest)) throw new NotFoundException($"blob {Name}@{digest} not found");
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Descriptor>> ReferrersAsync(Digest subject, string? artifactType = null, CancellationToken ct = default, int limit = Remote.Pagination.MaxItems)
    {
        List<(Digest Digest, byte[] Bytes)> manifests;
        lock (_gate) manifests = [.. _manifests.Select(m => (m.Key, m.Value.Bytes))];
        IReadOnlyList<Descriptor> found = manifests
            .Select(m => Referrers.Of(m.Bytes, m.Digest, subject))
            .OfType<Descriptor>()
            .Where(d => artifactType is null || d.ArtifactType == artifactType)
            .Take(limit + 1)
            .ToList();
        return Task.FromResult(found);
    }

    /// <summary>From another repository of the same store, the blob is shared, not copied.</summary>
    public Task<bool> TryMountFromAsync(Descriptor blob, IReadOnlyOciRepository source, CancellationToken ct = default)
    {
        if (source is not InMemoryOciRepository from || from._store != _store || from == this) return Task.FromResult(false);
        byte[]? bytes;
        lock (from._gate) bytes = from._blobs.GetValueOrDefault(blob.Digest);
        if (bytes is null || bytes.Length != blob.Size) return Task.FromResult(false);
        lock (_gate) _blobs[blob.Digest] = bytes;
        return Task.FromResult(true);
    }

    private byte[]? Find(Digest digest)
    {
        lock (_gate) return _blobs.GetValueOrDefault(digest) ?? (_manifests.TryGetValue(digest, out var manifest) ? manifest.Bytes : null);
    }
}

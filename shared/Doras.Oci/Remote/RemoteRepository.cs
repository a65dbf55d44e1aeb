using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Remote;

/// <summary>
/// One repository over the OCI distribution API (<c>/v2/…</c>) of a registry, or of the Doras server (read
/// only). Every manifest and blob is verified against its digest; blob downloads resume with HTTP Range when
/// the connection drops; uploads are monolithic when small and chunked (resumable) when large.
/// </summary>
public sealed partial class RemoteRepository(HttpClient http, Uri baseAddress, string name)
    : IOciRepository, ISeekableBlobSource, IManifestStat, IManifestDeleter, IBlobDeleter, IReferrerLister, IPushPermission, IBlobMounter
{
    private readonly ConcurrentDictionary<Digest, byte[]> _manifests = new();

    /// <summary>Blobs up to this size are uploaded in one PUT; larger ones in chunks of <see cref="ChunkSize"/>.</summary>
    public long MonolithicThreshold { get; init; } = 32L << 20;

    public int ChunkSize { get; init; } = 8 << 20;

    /// <summary>Reports bytes transferred so far for each blob upload or download (digest, bytes).</summary>
    public IProgress<(Digest Digest, long Bytes)>? Progress { get; init; }

    public string Name { get; } = Reference.IsValidRepository(name) ? name : throw new FormatException($"invalid repository name '{name}'");

    /// <summary>The registry (or server) this repository lives on.</summary>
    public Uri Registry => baseAddress;

    /// <summary>How many times a blob download may be resumed after the connection breaks.</summary>
    public int MaxResumes { get; init; } = 5;

    /// <summary>The same repository with blob downloads that do not resume on their own: for callers that retry and resume whole transfers themselves (one layer of retry).</summary>
    public RemoteRepository WithoutResumes() => new(http, baseAddress, Name)
    {
        MonolithicThreshold = MonolithicThreshold, ChunkSize = ChunkSize, Progress = Progress, PageSize = PageSize, MaxResumes = 0,
    };

    private Uri Url(string path) => new(baseAddress, $"v2/{Name}/{path}");

    public async Task<Descriptor?> TryResolveAsync(string tagOrDigest, CancellationToken ct = default)
    {
        var byDigest = Digest.TryParse(tagOrDigest, out var requested);
        if (!byDigest) Reference.ValidateTag(tagOrDigest);
        using var request = new HttpRequestMessage(HttpMethod.Get, Url($"manifests/{tagOrDigest}"));
        foreach (var type in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, $"manifest {Name}:{tagOrDigest}", ct).ConfigureAwait(false);

        var bytes = await response.Content.ReadBoundedAsync(OciJson.MaxManifestBytes, $"manifest {Name}:{tagOrDigest}", ct).ConfigureAwait(false);
        var digest = Digest.Compute(bytes, byDigest ? requested.Algorithm : Digest.Sha256);
        if (byDigest && digest != requested)
            throw new DigestMismatchException($"manifest {Name}@{requested} has digest {digest}");
        if (!byDigest && response.Headers.TryGetValues("Docker-Content-Digest", out var headers)
            && Digest.TryParse(headers.FirstOrDefault(), out var announced) && announced.Algorithm == digest.Algorithm && announced != digest)
            throw new DigestMismatchException($"manifest {Name}:{tagOrDigest} has digest {digest}, but the server announced {announced}");

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (string.IsNullOrEmpty(mediaType) || mediaType == "application/json") mediaType = OciJson.PeekMediaType(bytes) ?? MediaTypes.ImageManifest;
        _manifests[digest] = bytes;
        return new Descriptor { MediaType = mediaType, Digest = digest, Size = bytes.Length };
    }

    public async Task<Stream> FetchAsync(Descriptor descriptor, CancellationToken ct = default)
    {
        if (MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType))
        {
            if (!_manifests.TryGetValue(descriptor.Digest, out var bytes))
            {
                _ = await TryResolveAsync(descriptor.Digest.ToString(), ct).ConfigureAwait(false)
                    ?? throw new NotFoundException($"manifest {Name}@{descriptor.Digest} not found");
                bytes = _manifests[descriptor.Digest];
            }
            return new VerifyingReadStream(new MemoryStream(bytes, writable: false), descriptor.Digest, descriptor.Size);
        }
        Stream body = await ResumableDownloadStream.OpenAsync(http, Url($"blobs/{descriptor.Digest}"), descriptor.Size, MaxResumes, ct).ConfigureAwait(false);
        if (Progress is { } progress) body = new ProgressReadStream(body, descriptor.Digest, progress);
        return new VerifyingReadStream(body, descriptor.Digest, descriptor.Size);
    }

    /// <summary>A stream of a blob from <paramref name="offset"/> on, unverified: for resuming a partial download kept on disk.</summary>
    public Task<Stream> FetchFromAsync(Descriptor descriptor, long offset, CancellationToken ct = default) =>
        ResumableDownloadStream.OpenAsync(http, Url($"blobs/{descriptor.Digest}"), descriptor.Size, MaxResumes, ct, offset);

    /// <summary>A manifest's descriptor from a HEAD request (digest from Docker-Content-Digest), or null when there is none.</summary>
    public async Task<Descriptor?> StatManifestAsync(string tagOrDigest, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, Url($"manifests/{tagOrDigest}"));
        foreach (var type in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, $"manifest {Name}:{tagOrDigest}", ct).ConfigureAwait(false);
        if (!response.Headers.TryGetValues("Docker-Content-Digest", out var values) || !Digest.TryParse(values.FirstOrDefault(), out var digest))
            return await TryResolveAsync(tagOrDigest, ct).ConfigureAwait(false); // no digest header: GET and hash it ourselves
        return new Descriptor
        {
            MediaType = response.Content.Headers.ContentType?.MediaType ?? MediaTypes.ImageManifest,
            Digest = digest,
            Size = response.Content.Headers.ContentLength ?? throw new HttpRequestException($"manifest {Name}:{tagOrDigest}: no size in the HEAD answer"),
        };
    }

    /// <summary>
    /// A stored blob as a seekable stream (its size from a HEAD): seeking reopens the download at the new offset,
    /// nothing is buffered; so the Doras server can pass a device's Range request through. Null when it is not stored.
    /// </summary>
    public Task<Stream?> OpenSeekableAsync(Digest digest, CancellationToken ct = default) => RemoteBlobStream.OpenAsync(this, digest, ct);

    /// <summary>The size of a stored blob (HEAD), or null when it is not stored.</summary>
    public async Task<long?> StatBlobAsync(Digest digest, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, Url($"blobs/{digest}"));
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureSuccessAsync(response, $"blob {Name}@{digest}", ct).ConfigureAwait(false);
        return response.Content.Headers.ContentLength ?? throw new HttpRequestException($"blob {Name}@{digest}: the registry gave no size");
    }

    public async Task<bool> ExistsAsync(Descriptor descriptor, CancellationToken ct = default)
    {
        var kind = MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType) ? "manifests" : "blobs";
        using var request = new HttpRequestMessage(HttpMethod.Head, Url($"{kind}/{descriptor.Digest}"));
        // Without an Accept naming OCI types, distribution answers 404 for an OCI manifest or index it holds.
        if (kind == "manifests") foreach (var type in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        await EnsureSuccessAsync(response, $"{kind} {Name}@{descriptor.Digest}", ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Page size asked for when listing; registries may ignore it.</summary>
    public int PageSize { get; init; } = 1000;

    public IAsyncEnumerable<string> ListTagsAsync(CancellationToken ct = default) =>
        Pagination.ListAsync(http, Url($"tags/list?n={PageSize}"), "tags", $"tags of {Name}", ct);

    public static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var body = "";
        try { body = System.Text.Encoding.UTF8.GetString(await response.Content.ReadBoundedAsync(4096, what, ct, truncate: true).ConfigureAwait(false)); }
        catch (IOException) { }
        throw new RegistryException($"{what}: {(int)response.StatusCode} {response.ReasonPhrase} {ErrorBody.Describe(body)}".TrimEnd(), response.StatusCode, ErrorBody.Errors(body));
    }
}

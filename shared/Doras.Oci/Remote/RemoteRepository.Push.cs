using System.Net;
using System.Net.Http.Headers;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Remote;

/// <summary>
/// Where a chunked upload stands: the newest upload URL the registry gave (registries such as distribution
/// put their state in it, so older URLs go stale) and how many bytes it holds. Persist it to resume the
/// upload later, from another process.
/// </summary>
public sealed record UploadSession(Uri Location, long Offset);

public sealed partial class RemoteRepository
{
    public async Task PushAsync(Descriptor expected, Stream content, CancellationToken ct = default)
    {
        if (MediaTypes.IsManifest(expected.MediaType) || MediaTypes.IsIndex(expected.MediaType))
        {
            var bytes = await ReadManifestBytesAsync(expected, content, ct).ConfigureAwait(false);
            await PutManifestAsync(expected, bytes, expected.Digest.ToString(), ct).ConfigureAwait(false);
            return;
        }
        if (await ExistsAsync(expected, ct).ConfigureAwait(false)) return;
        var session = await StartUploadAsync(ct).ConfigureAwait(false);
        await UploadAsync(session, expected, content, ct).ConfigureAwait(false);
    }

    public async Task TagAsync(Descriptor manifest, string tag, CancellationToken ct = default)
    {
        Reference.ValidateTag(tag);
        if (!_manifests.TryGetValue(manifest.Digest, out var bytes))
        {
            await using var stream = await FetchAsync(manifest, ct).ConfigureAwait(false);
            bytes = await ReadManifestBytesAsync(manifest, stream, ct).ConfigureAwait(false);
        }
        await PutManifestAsync(manifest, bytes, tag, ct).ConfigureAwait(false);
    }

    /// <summary>Deletes a manifest by digest (and with it every tag pointing to it).</summary>
    public async Task DeleteManifestAsync(Digest digest, CancellationToken ct = default)
    {
        using var response = await http.DeleteAsync(Url($"manifests/{digest}"), ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) throw new NotFoundException($"manifest {Name}@{digest} not found");
        await EnsureSuccessAsync(response, $"deleting manifest {Name}@{digest}", ct).ConfigureAwait(false);
        _manifests.TryRemove(digest, out _);
    }

    public async Task DeleteBlobAsync(Digest digest, CancellationToken ct = default)
    {
        using var response = await http.DeleteAsync(Url($"blobs/{digest}"), ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) throw new NotFoundException($"blob {Name}@{digest} not found");
        await EnsureSuccessAsync(response, $"deleting blob {Name}@{digest}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Mounts a blob from another repository of the same registry without transferring it. Returns false when
    /// the registry would not (then push it); the upload session it opened instead is cancelled.
    /// </summary>
    public async Task<bool> TryMountAsync(Descriptor blob, string fromRepository, CancellationToken ct = default)
    {
        if (!Reference.IsValidRepository(fromRepository)) throw new FormatException($"invalid repository name '{fromRepository}'");
        using var response = await http.PostAsync(Url($"blobs/uploads/?mount={blob.Digest}&from={Uri.EscapeDataString(fromRepository)}"), null, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created) return true;
        await EnsureSuccessAsync(response, $"mounting {blob.Digest} from {fromRepository} into {Name}", ct).ConfigureAwait(false);
        if (response.Headers.Location is { } location)
        {
            using var cancel = await http.DeleteAsync(Resolve(response, location), ct).ConfigureAwait(false); // best effort
        }
        return false;
    }

    /// <summary>A mount from another repository of the same registry (<see cref="TryMountAsync"/>); false for any other source.</summary>
    public async Task<bool> TryMountFromAsync(Descriptor blob, IReadOnlyOciRepository source, CancellationToken ct = default) =>
        source is RemoteRepository from && from.Registry == Registry && await TryMountAsync(blob, from.Name, ct).ConfigureAwait(false);

    /// <summary>Opens an upload session (POST …/blobs/uploads/).</summary>
    public async Task<UploadSession> StartUploadAsync(CancellationToken ct = default)
    {
        using var response = await http.PostAsync(Url("blobs/uploads/"), null, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"starting an upload to {Name}", ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Accepted || response.Headers.Location is not { } location)
            throw new HttpRequestException($"starting an upload to {Name}: expected 202 with a Location, got {(int)response.StatusCode}");
        return new UploadSession(Resolve(response, location), 0);
    }

    /// <summary>Asks the registry where an interrupted upload stands (GET on its upload URL).</summary>
    public async Task<UploadSession> GetUploadStatusAsync(UploadSession session, CancellationToken ct = default)
    {
        using var response = await http.GetAsync(session.Location, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"checking the upload to {Name}", ct).ConfigureAwait(false);
        var location = response.Headers.Location is { } l ? Resolve(response, l) : session.Location;
        var end = RangeEnd(response);
        // "0-0" means both "nothing" and "one byte" in distribution 2.8; our own record settles it.
        var offset = end is null ? 0 : end == 0 && session.Offset == 0 ? 0 : end.Value + 1;
        return new UploadSession(location, offset);
    }

    /// <summary>
    /// Uploads <paramref name="content"/> (all of the blob, positioned at its start) into a session. A session
    /// with an offset resumes: the first bytes are hashed, not sent again, so the stream must be seekable or
    /// re-readable from the start.
    /// </summary>
    /// <param name="checkpoints">Told the session after every chunk, so a caller can persist it and resume after a crash.</param>
    public async Task UploadAsync(UploadSession session, Descriptor expected, Stream content, CancellationToken ct = default, IProgress<UploadSession>? checkpoints = null)
    {
        await using var verified = new VerifyingReadStream(content, expected.Digest, expected.Size, leaveOpen: true);
        if (session.Offset > 0) await SkipAsync(verified, session.Offset, ct).ConfigureAwait(false);

        if (session.Offset == 0 && expected.Size <= MonolithicThreshold && checkpoints is null)
        {
            // One PUT with the whole body: the simplest path, and what every registry supports.
            using var body = new StreamContent(Progress is { } p ? new ProgressReadStream(verified, expected.Digest, p) : verified);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            body.Headers.ContentLength = expected.Size;
            using var response = await http.PutAsync(WithDigest(session.Location, expected.Digest), body, ct).ConfigureAwait(false);
            await EnsureCreatedAsync(response, expected, ct).ConfigureAwait(false);
            return;
        }

        var buffer = new byte[ChunkSize];
        while (session.Offset < expected.Size)
        {
            var n = await verified.ReadAtLeastAsync(buffer, (int)Math.Min(buffer.Length, expected.Size - session.Offset), throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (n == 0) throw new DigestMismatchException($"content of {expected.Digest} ended after {session.Offset} of {expected.Size} bytes");
            session = await PatchChunkAsync(session, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            Progress?.Report((expected.Digest, session.Offset));
            checkpoints?.Report(session);
        }
        if (await verified.ReadAsync(new byte[1], ct).ConfigureAwait(false) != 0) // checks the digest of all bytes
            throw new DigestMismatchException($"content of {expected.Digest} is longer than {expected.Size} bytes");
        using var close = new HttpRequestMessage(HttpMethod.Put, WithDigest(session.Location, expected.Digest)) { Content = new ByteArrayContent([]) };
        close.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var closed = await http.SendAsync(close, ct).ConfigureAwait(false);
        await EnsureCreatedAsync(closed, expected, ct).ConfigureAwait(false);
    }

    /// <summary>Sends one chunk; the registry must confirm that it now holds exactly our offset plus the chunk.</summary>
    private async Task<UploadSession> PatchChunkAsync(UploadSession session, ReadOnlyMemory<byte> chunk, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, session.Location) { Content = new ReadOnlyMemoryContent(chunk) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{session.Offset}-{session.Offset + chunk.Length - 1}");
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"uploading a chunk to {Name}", ct).ConfigureAwait(false);
        var expectedEnd = session.Offset + chunk.Length - 1;
        var end = RangeEnd(response);
        if (end is not null && end != expectedEnd)
            throw new HttpRequestException($"uploading to {Name}: the registry holds bytes 0-{end}, expected 0-{expectedEnd}");
        var location = response.Headers.Location is { } l ? Resolve(response, l) : session.Location;
        return new UploadSession(location, session.Offset + chunk.Length);
    }

    private async Task PutManifestAsync(Descriptor descriptor, byte[] bytes, string reference, CancellationToken ct, bool maintainReferrers = true)
    {
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue(descriptor.MediaType);
        using var response = await http.PutAsync(Url($"manifests/{reference}"), body, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"pushing manifest {Name}:{reference}", ct).ConfigureAwait(false);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var stored)
            && stored.Algorithm == descriptor.Digest.Algorithm && stored != descriptor.Digest)
            throw new DigestMismatchException($"the registry stored manifest {Name}:{reference} as {stored}, not {descriptor.Digest}");
        _manifests[descriptor.Digest] = bytes;
        // Once per manifest (by digest), not again for every tag.
        if (maintainReferrers && reference == descriptor.Digest.ToString())
            await UpdateReferrersFallbackAsync(descriptor, bytes, response, ct).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadManifestBytesAsync(Descriptor expected, Stream content, CancellationToken ct)
    {
        if (expected.Size > OciJson.MaxManifestBytes) throw new InvalidDataException($"manifest {expected.Digest} is larger than {OciJson.MaxManifestBytes} bytes");
        var bytes = new byte[expected.Size];
        await using var verified = new VerifyingReadStream(content, expected.Digest, expected.Size, leaveOpen: true);
        await verified.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        if (await verified.ReadAsync(new byte[1], ct).ConfigureAwait(false) != 0) throw new DigestMismatchException($"manifest {expected.Digest} is longer than announced");
        return bytes;
    }

    private async Task EnsureCreatedAsync(HttpResponseMessage response, Descriptor expected, CancellationToken ct)
    {
        await EnsureSuccessAsync(response, $"completing the upload of {expected.Digest} to {Name}", ct).ConfigureAwait(false);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var stored)
            && stored.Algorithm == expected.Digest.Algorithm && stored != expected.Digest)
            throw new DigestMismatchException($"the registry stored {stored}, not {expected.Digest}");
    }

    private static async Task SkipAsync(Stream stream, long count, CancellationToken ct)
    {
        var scratch = new byte[81920];
        while (count > 0)
        {
            var n = await stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, count)), ct).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException("content ended before the resume offset");
            count -= n;
        }
    }

    private static long? RangeEnd(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Range", out var values)) return null;
        var text = values.First().Replace("bytes=", "", StringComparison.Ordinal);
        var dash = text.IndexOf('-');
        return dash > 0 && long.TryParse(text[(dash + 1)..], out var end) ? end : null;
    }

    private static Uri Resolve(HttpResponseMessage response, Uri location) =>
        location.IsAbsoluteUri ? location : new Uri(response.RequestMessage!.RequestUri!, location);

    private static Uri WithDigest(Uri location, Digest digest) =>
        new(location + (location.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest.ToString()));
}

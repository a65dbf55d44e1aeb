using System.Net;
using System.Net.Http.Headers;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Remote;

public sealed partial class RemoteRepository
{
    /// <summary>The fallback tag the referrers tag schema uses for a subject: <c>sha256-&lt;hex&gt;</c>.</summary>
    public static string ReferrersTag(Digest subject) => AttachmentTags.ReferrersTag(subject);

    /// <summary>
    /// The manifests whose <c>subject</c> is <paramref name="subject"/>: from the referrers API, or, on registries
    /// without it (404), from the index at the referrers tag. Optionally only those of one artifactType.
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>> ReferrersAsync(Digest subject, string? artifactType = null, CancellationToken ct = default, int limit = Pagination.MaxItems)
    {
        var query = artifactType is null ? "" : "?artifactType=" + Uri.EscapeDataString(artifactType);
        var what = $"referrers of {Name}@{subject}";
        var pages = new Pagination.PageWalk(Url($"referrers/{subject}{query}"), what);
        var found = new List<Descriptor>();
        while (pages.Next is { } next)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, next);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.ImageIndex));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.IsSuccessStatusCode && response.Content.Headers.ContentType?.MediaType == MediaTypes.ImageIndex)
            {
                var bytes = await response.Content.ReadBoundedAsync(OciJson.MaxManifestBytes, what, ct).ConfigureAwait(false);
                found.AddRange(OciJson.Deserialize<ImageIndex>(bytes, what).Manifests.Where(d => artifactType is null || d.ArtifactType == artifactType));
                if (found.Count > limit) return found.Take(limit + 1).ToList(); // enough to know there are more
                if (found.Count > Pagination.MaxItems) throw new InvalidDataException($"{what}: more than {Pagination.MaxItems} referrers");
                pages.Advance(response); // the referrers API pages like the tag list (distribution spec)
            }
            else if (response.StatusCode == HttpStatusCode.NotFound && pages.IsFirst)
            {
                found.AddRange(((await ReadFallbackIndexAsync(subject, ct).ConfigureAwait(false))?.Manifests ?? []).Where(d => artifactType is null || d.ArtifactType == artifactType).Take(limit + 1));
                break;
            }
            else
            {
                await EnsureSuccessAsync(response, what, ct).ConfigureAwait(false);
                throw new InvalidDataException($"{what}: unexpected content type {response.Content.Headers.ContentType}");
            }
        }
        return found;
    }

    /// <summary>
    /// After pushing a manifest with a subject to a registry that did not process it (no <c>OCI-Subject</c>
    /// header), adds it to the subject's referrers index at the fallback tag, as the distribution spec asks.
    /// </summary>
    private async Task UpdateReferrersFallbackAsync(Descriptor pushed, byte[] manifestBytes, HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Headers.Contains("OCI-Subject")) return; // the registry keeps the referrers itself
        var manifest = OciJson.PeekMediaType(manifestBytes) is { } type && MediaTypes.IsIndex(type)
            ? null : OciJson.Deserialize<ImageManifest>(manifestBytes, $"manifest {pushed.Digest}");
        var subject = manifest?.Subject ?? (manifest is null ? OciJson.Deserialize<ImageIndex>(manifestBytes, $"index {pushed.Digest}").Subject : null);
        if (subject is null) return;

        var existing = await ReadFallbackIndexAsync(subject.Digest, ct).ConfigureAwait(false);
        var entries = existing?.Manifests.Where(d => d.Digest != pushed.Digest).ToList() ?? [];
        entries.Add(pushed with
        {
            ArtifactType = manifest?.ArtifactType ?? (manifest is not null ? manifest.Config.MediaType : null),
            Annotations = manifest?.Annotations,
        });
        var index = OciJson.Serialize(new ImageIndex { Manifests = entries });
        var descriptor = Descriptor.FromBytes(MediaTypes.ImageIndex, index);
        await PutManifestAsync(descriptor, index, ReferrersTag(subject.Digest), ct, maintainReferrers: false).ConfigureAwait(false);
    }

    private async Task<ImageIndex?> ReadFallbackIndexAsync(Digest subject, CancellationToken ct)
    {
        var descriptor = await TryResolveAsync(ReferrersTag(subject), ct).ConfigureAwait(false);
        if (descriptor is null) return null;
        return OciJson.Deserialize<ImageIndex>(_manifests[descriptor.Digest], $"referrers index of {subject}");
    }

    /// <summary>
    /// Whether these credentials may push to this repository: opens an upload session and cancels it, before
    /// any expensive work (compressing, building a delta) is done for nothing.
    /// </summary>
    public async Task<bool> CanPushAsync(CancellationToken ct = default)
    {
        using var response = await http.PostAsync(Url("blobs/uploads/"), null, ct).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.MethodNotAllowed) return false;
        await EnsureSuccessAsync(response, $"checking push access to {Name}", ct).ConfigureAwait(false);
        if (response.Headers.Location is { } location)
        {
            using var cancel = await http.DeleteAsync(Resolve(response, location), ct).ConfigureAwait(false);
        }
        return true;
    }
}

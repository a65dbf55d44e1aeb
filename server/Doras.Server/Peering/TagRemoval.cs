using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Server.Peering;

/// <summary>
/// Removes a tag from a repository of our own store. A layout store removes just the tag. The distribution API
/// cannot delete a tag, only a manifest with all its tags, so in a registry the manifest is deleted and put back
/// under the tags that must stay.
/// </summary>
public static class TagRemoval
{
    /// <param name="keep">Other tags that point at the same manifest and must keep pointing at it.</param>
    public static async Task UntagAsync(IOciRepository repository, string tag, Descriptor manifest, IReadOnlyCollection<string> keep, CancellationToken ct)
    {
        switch (repository)
        {
            case OciLayoutRepository layout:
                await layout.UntagAsync(tag, manifest.Digest, ct).ConfigureAwait(false);
                return;
            case RemoteRepository remote:
                var bytes = keep.Count == 0 ? null : await remote.FetchBytesAsync(manifest, ct: ct).ConfigureAwait(false);
                try { await remote.DeleteManifestAsync(manifest.Digest, ct).ConfigureAwait(false); }
                catch (NotFoundException) { }
                if (bytes is null) return;
                await remote.PushAsync(manifest, new MemoryStream(bytes, writable: false), ct).ConfigureAwait(false);
                foreach (var kept in keep) await remote.TagAsync(manifest, kept, ct).ConfigureAwait(false);
                return;
            default:
                throw new NotSupportedException($"cannot remove tags from a {repository.GetType().Name}");
        }
    }
}

using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>
/// Removes a tag from a repository. A store that can untag (<see cref="IUntagger"/>) removes just the tag. The
/// distribution API cannot delete a tag, only a manifest with all its tags, so a store that can only delete manifests
/// (<see cref="IManifestDeleter"/>: a registry) deletes it and puts it back under the tags that must stay.
/// </summary>
public static class TagRemoval
{
    /// <param name="manifest">What the tag names; a tag moved since is left alone where the store can tell.</param>
    /// <param name="keep">Other tags that point at the same manifest and must keep pointing at it.</param>
    public static async Task UntagAsync(IOciRepository repository, string tag, Descriptor manifest, IReadOnlyCollection<string> keep, CancellationToken ct)
    {
        switch (repository)
        {
            case IUntagger untagger:
                await untagger.UntagAsync(tag, manifest.Digest, ct).ConfigureAwait(false);
                return;
            case IManifestDeleter deleter:
                var bytes = keep.Count == 0 ? null : await repository.FetchBytesAsync(manifest, ct: ct).ConfigureAwait(false);
                try { await deleter.DeleteManifestAsync(manifest.Digest, ct).ConfigureAwait(false); }
                catch (NotFoundException) { }
                if (bytes is null) return;
                await repository.PushAsync(manifest, new MemoryStream(bytes, writable: false), ct).ConfigureAwait(false);
                foreach (var kept in keep) await repository.TagAsync(manifest, kept, ct).ConfigureAwait(false);
                return;
            default:
                throw new NotSupportedException($"cannot remove tags from a {repository.GetType().Name}");
        }
    }
}

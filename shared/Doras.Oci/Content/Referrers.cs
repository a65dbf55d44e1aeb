using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>Finding referrers by reading manifests: for stores without a registry's referrers API or its fallback index.</summary>
public static class Referrers
{
    /// <summary>
    /// The referrer entry of a stored manifest or index whose <c>subject</c> is <paramref name="subject"/> (with its
    /// artifactType and annotations, as the referrers API lists it), or null for anything else, content that is no
    /// manifest included.
    /// </summary>
    public static Descriptor? Of(ReadOnlySpan<byte> bytes, Digest digest, Digest subject) =>
        SubjectOf(bytes, digest) is { } found && found.Subject == subject ? found.Referrer : null;

    /// <summary>The subject of a stored manifest or index and its referrer entry; null for one without a subject, or content that is no manifest.</summary>
    public static (Digest Subject, Descriptor Referrer)? SubjectOf(ReadOnlySpan<byte> bytes, Digest digest)
    {
        try
        {
            var mediaType = OciJson.PeekMediaType(bytes);
            if (mediaType is not null && MediaTypes.IsIndex(mediaType))
            {
                var index = OciJson.Deserialize<ImageIndex>(bytes, $"index {digest}");
                return index.Subject is not { } indexSubject ? null : (indexSubject.Digest, new Descriptor
                {
                    MediaType = mediaType, Digest = digest, Size = bytes.Length, ArtifactType = index.ArtifactType, Annotations = index.Annotations,
                });
            }
            if (mediaType is null || !MediaTypes.IsManifest(mediaType)) return null;
            var manifest = OciJson.Deserialize<ImageManifest>(bytes, $"manifest {digest}");
            return manifest.Subject is not { } manifestSubject ? null : (manifestSubject.Digest, new Descriptor
            {
                MediaType = mediaType, Digest = digest, Size = bytes.Length,
                ArtifactType = manifest.ArtifactType ?? manifest.Config?.MediaType, Annotations = manifest.Annotations,
            });
        }
        catch (Exception e) when (e is InvalidDataException or FormatException) { return null; } // not JSON, or not of a manifest's shape
    }
}

using Doras.Oci.Model;

namespace Doras.Signing.Cosign;

/// <summary>Where cosign keeps what it attaches to a manifest, in the registry's own tags (its "tag form").</summary>
public static class CosignTags
{
    /// <summary>The annotation on each signature layer holding the base64 signature of the layer's payload.</summary>
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";

    /// <summary><c>sha256-&lt;hex&gt;.sig</c>: the signatures of the manifest <paramref name="digest"/>.</summary>
    public static string SignatureTag(Digest digest) => Oci.Content.AttachmentTags.CosignTag(digest, ".sig");
}

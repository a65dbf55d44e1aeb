using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>
/// The tags that name what is attached to a manifest rather than a version: cosign's tag form
/// (<c>sha256-&lt;hex&gt;.sig</c>, <c>.att</c>, <c>.sbom</c>) and the referrers tag schema's fallback index
/// (<c>sha256-&lt;hex&gt;</c>). They travel with the manifest they are attached to, never as versions of their own.
/// </summary>
public static class AttachmentTags
{
    /// <summary>cosign's suffixes: signatures, attestations, SBOMs.</summary>
    public static readonly IReadOnlyList<string> CosignSuffixes = [".sig", ".att", ".sbom"];

    /// <summary><c>sha256-&lt;hex&gt;&lt;suffix&gt;</c>: where cosign keeps what <paramref name="suffix"/> names for <paramref name="subject"/>.</summary>
    public static string CosignTag(Digest subject, string suffix) => $"{subject.Algorithm}-{subject.Hex}{suffix}";

    /// <summary><c>sha256-&lt;hex&gt;</c>: the referrers tag schema's index of <paramref name="subject"/>'s referrers.</summary>
    public static string ReferrersTag(Digest subject) => $"{subject.Algorithm}-{subject.Hex}";

    /// <summary>The manifest a cosign tag or a referrers fallback tag is attached to; null for any other tag.</summary>
    public static Digest? SubjectOf(string tag)
    {
        var name = tag;
        foreach (var suffix in CosignSuffixes)
            if (tag.EndsWith(suffix, StringComparison.Ordinal)) { name = tag[..^suffix.Length]; break; }
        var dash = name.IndexOf('-');
        return dash > 0 && Digest.TryParse($"{name[..dash]}:{name[(dash + 1)..]}", out var digest) ? digest : null;
    }

    /// <summary>Whether a tag names something attached to a manifest (<see cref="SubjectOf"/>), not a version.</summary>
    public static bool IsAttachment(string tag) => SubjectOf(tag) is not null;

    /// <summary>Whether a tag is a referrers fallback index's (<c>sha256-&lt;hex&gt;</c>, no suffix).</summary>
    public static bool IsReferrersTag(string tag) => SubjectOf(tag) is { } subject && tag == ReferrersTag(subject);
}

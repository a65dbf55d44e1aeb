namespace Doras.Delta.Vocabulary;

/// <summary>
/// The tag prefixes Doras keeps for itself beside the versions: the delta server's deltas and placeholders
/// (<c>_delta-…</c>) and its records (<c>_doras-…</c>). Listings hide them and the server acts on them, so a user's
/// tag there would be taken for Doras's own: every way a user publishes or tags (<c>doras push</c>, <c>doras copy</c>,
/// <c>ArtifactPublisher</c>) refuses them. The server writes them through the store directly.
/// </summary>
public static class ReservedTags
{
    public const string DeltaPrefix = "_delta-";
    public const string DorasPrefix = "_doras-";

    public static bool IsReserved(string tag) =>
        tag.StartsWith(DeltaPrefix, StringComparison.Ordinal) || tag.StartsWith(DorasPrefix, StringComparison.Ordinal);

    /// <summary>The tag, if a user may create it; <see cref="ArgumentException"/> (a usage error) naming the rule if not.</summary>
    public static string EnsureUserTag(string tag) => IsReserved(tag)
        ? throw new ArgumentException($"tag '{tag}' is reserved: tags starting with '{DeltaPrefix}' or '{DorasPrefix}' are Doras's own")
        : tag;
}

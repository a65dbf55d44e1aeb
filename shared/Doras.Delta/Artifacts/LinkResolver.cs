namespace Doras.Delta.Artifacts;

/// <summary>
/// Decides whether a symlink stays inside a tree, resolving its target the way the kernel would, but inside
/// the tree: from the link's directory, '.' is skipped, '..' goes up (above the root: outside), a name that
/// is itself a symlink is resolved in turn (more than <see cref="MaxLinks"/> of them: a loop), anything else
/// is descended into. A name that does not exist (or is not a directory) is taken as a directory that may
/// appear later, so the rest of the target is still followed: a dangling link is fine as long as it could
/// not lead outside once the missing names exist. Absolute targets are outside by definition.
/// One rule for both sides: <see cref="TarPacking.PackAsync"/> refuses to publish what
/// <see cref="TarPacking.ExtractAsync"/> refuses to install.
/// </summary>
public static class LinkResolver
{
    /// <summary>How many links one resolution may pass through, as Linux's limit (ELOOP).</summary>
    public const int MaxLinks = 40;

    public enum Kind { Missing, Directory, Symlink, Other }

    /// <summary>What a name in a directory of the tree is; <paramref name="Target"/> is set for symlinks.</summary>
    public readonly record struct Node(Kind Kind, string? Target = null);

    /// <summary>
    /// Looks up <c>name</c> in the directory at <c>directory</c> (path components from the root), never
    /// following a link; <see cref="Kind.Missing"/> when that directory does not exist either.
    /// </summary>
    public delegate Node Lookup(IReadOnlyList<string> directory, string name);

    /// <summary>
    /// Null when a link in <paramref name="linkDirectory"/> with <paramref name="target"/> resolves inside the
    /// tree; otherwise why not ("is a symlink that leads outside the target directory (…)", "is a symlink loop (…)", …), to complete a sentence
    /// about the link.
    /// </summary>
    public static string? WhyOutside(IReadOnlyList<string> linkDirectory, string target, Lookup lookup)
    {
        var path = new List<string>(linkDirectory);
        var links = 0;
        return Resolve(path, target, lookup, ref links);
    }

    private static string? Resolve(List<string> path, string target, Lookup lookup, ref int links)
    {
        if (target.Length == 0 || target.Contains('\0')) return "is a symlink with an empty or invalid target";
        if (target.StartsWith('/')) return $"is a symlink to the absolute path '{target}'";
        foreach (var name in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (name == ".") continue;
            if (name == "..")
            {
                if (path.Count == 0) return $"is a symlink that leads outside the target directory ('{target}')";
                path.RemoveAt(path.Count - 1);
                continue;
            }
            var node = lookup(path, name);
            switch (node.Kind)
            {
                case Kind.Symlink:
                    if (++links > MaxLinks) return $"is a symlink loop (more than {MaxLinks} links through '{name}')";
                    if (Resolve(path, node.Target!, lookup, ref links) is { } why) return why;
                    break;
                default: // a directory, or a name that may become one
                    path.Add(name);
                    break;
            }
        }
        return null;
    }
}

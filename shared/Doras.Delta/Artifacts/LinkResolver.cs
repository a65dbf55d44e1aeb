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
/// The work is bounded whatever the archive: a target is at most <see cref="MaxTargetLength"/> characters and
/// one resolution walks at most <see cref="MaxSteps"/> names, each looked up once in the directory reached so far.
/// </summary>
public static class LinkResolver
{
    /// <summary>How many links one resolution may pass through, as Linux's limit (ELOOP).</summary>
    public const int MaxLinks = 40;

    /// <summary>The longest target a link may have (Linux's PATH_MAX less its terminator).</summary>
    public const int MaxTargetLength = 4095;

    /// <summary>How many names one resolution may walk, links passed through included.</summary>
    public const int MaxSteps = 4096;

    public enum Kind { Missing, Directory, Symlink, Other }

    /// <summary>What a name in a directory of the tree is; <paramref name="Target"/> is set for symlinks.</summary>
    public readonly record struct Node(Kind Kind, string? Target = null);

    /// <summary>
    /// Looks up <paramref name="name"/> in <paramref name="directory"/>, never following a link; for a directory,
    /// <paramref name="child"/> is its handle.
    /// </summary>
    public delegate Node Lookup<TDirectory>(TDirectory directory, string name, out TDirectory? child) where TDirectory : class;

    /// <summary>
    /// Null when a link in <paramref name="linkDirectory"/> (names from <paramref name="root"/>) with
    /// <paramref name="target"/> resolves inside the tree; otherwise why not ("is a symlink that leads outside the
    /// target directory (…)", "is a symlink loop (…)", …), to complete a sentence about the link.
    /// </summary>
    public static string? WhyOutside<TDirectory>(TDirectory root, IReadOnlyList<string> linkDirectory, string target, Lookup<TDirectory> lookup)
        where TDirectory : class
    {
        // The directories from the root to where the resolution stands; null for one that does not exist (yet).
        var path = new List<TDirectory?>(linkDirectory.Count + 1) { root };
        foreach (var name in linkDirectory)
        {
            TDirectory? child = null;
            if (path[^1] is { } parent) lookup(parent, name, out child);
            path.Add(child);
        }
        var (links, steps) = (0, 0);
        return Resolve(path, target, lookup, ref links, ref steps);
    }

    private static string? Resolve<TDirectory>(List<TDirectory?> path, string target, Lookup<TDirectory> lookup, ref int links, ref int steps)
        where TDirectory : class
    {
        if (target.Length == 0 || target.Contains('\0')) return "is a symlink with an empty or invalid target";
        if (target.Length > MaxTargetLength) return $"is a symlink with a target longer than {MaxTargetLength} characters";
        if (target.StartsWith('/')) return $"is a symlink to the absolute path '{target}'";
        foreach (var name in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (++steps > MaxSteps) return $"is a symlink too long to resolve (more than {MaxSteps} names, links included)";
            if (name == ".") continue;
            if (name == "..")
            {
                if (path.Count == 1) return $"is a symlink that leads outside the target directory ('{target}')";
                path.RemoveAt(path.Count - 1);
                continue;
            }
            if (path[^1] is not { } directory)
            {
                path.Add(null); // below a missing name, everything is missing too
                continue;
            }
            var node = lookup(directory, name, out var child);
            if (node.Kind == Kind.Symlink)
            {
                if (++links > MaxLinks) return $"is a symlink loop (more than {MaxLinks} links through '{name}')";
                if (Resolve(path, node.Target!, lookup, ref links, ref steps) is { } why) return why;
                continue;
            }
            path.Add(node.Kind == Kind.Directory ? child : null); // a directory, or a name that may become one
        }
        return null;
    }
}

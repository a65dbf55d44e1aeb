namespace Doras.Delta.Artifacts;

/// <summary>
/// What an extraction has made so far, as a tree of names in memory: each entry's kind, and a link's target.
/// It is how <see cref="TarPacking.ExtractAsync"/> refuses an entry that appears twice, is written through a
/// link or beneath a file, or hard-links to anything but an earlier file, and what <see cref="LinkResolver"/>
/// resolves links against, so those checks cost a dictionary lookup per name, never a system call or a string
/// of the whole path, however deep or hostile the archive.
/// </summary>
internal sealed class ExtractedTree
{
    public enum Made { ImplicitDirectory, Directory, File, Symlink }

    public sealed class Entry(Made kind, string? target = null)
    {
        public Made Kind { get; set; } = kind;
        public string? Target { get; } = target;
        public Dictionary<string, Entry> Children { get; } = new(StringComparer.Ordinal);
    }

    public Entry Root { get; } = new(Made.ImplicitDirectory);

    /// <summary>Notes what an entry makes (and the directories above it), refusing what is there already or what it would pass through.</summary>
    public void Record(string[] path, Made kind, string? target, string what)
    {
        var directory = Root;
        for (var i = 0; i < path.Length - 1; i++)
        {
            if (!directory.Children.TryGetValue(path[i], out var above))
                directory.Children[path[i]] = above = new Entry(Made.ImplicitDirectory);
            else if (above.Kind == Made.Symlink)
                throw new HostileArchiveException($"{what} is written through a symlink ('{string.Join('/', path[..(i + 1)])}')");
            else if (above.Kind == Made.File)
                throw new HostileArchiveException($"{what} is written beneath '{string.Join('/', path[..(i + 1)])}', which is not a directory");
            directory = above;
        }
        if (path.Length == 0) return; // '.': the root itself
        if (directory.Children.TryGetValue(path[^1], out var was))
        {
            if (was.Kind == Made.ImplicitDirectory && kind == Made.Directory)
            {
                was.Kind = Made.Directory;
                return;
            }
            throw new HostileArchiveException($"{what} appears twice (first as {was.Kind switch
            {
                Made.ImplicitDirectory or Made.Directory => "a directory",
                Made.File => "a file",
                _ => "a symlink",
            }})");
        }
        directory.Children[path[^1]] = new Entry(kind, target);
    }

    /// <summary>A hard link's source must be a regular file made earlier, reached without passing a link.</summary>
    public void CheckHardLinkSource(string[] source, string linkName, string what)
    {
        var entry = Root;
        for (var i = 0; i < source.Length; i++)
        {
            if (!entry.Children.TryGetValue(source[i], out var next))
                throw new HostileArchiveException($"{what} is a hard link to '{linkName}', which is not a file before it in the archive");
            if (next.Kind == Made.Symlink && i < source.Length - 1)
                throw new HostileArchiveException($"{what} is a hard link through a symlink ('{string.Join('/', source[..(i + 1)])}')");
            entry = next;
        }
        if (entry.Kind != Made.File)
            throw new HostileArchiveException($"{what} is a hard link to '{linkName}', which is a {(entry.Kind == Made.Symlink ? "symlink" : "directory")}");
    }

    /// <summary>For <see cref="LinkResolver"/>: a name in a directory of the tree.</summary>
    public static LinkResolver.Node Lookup(Entry directory, string name, out Entry? child)
    {
        child = null;
        if (!directory.Children.TryGetValue(name, out var entry)) return new LinkResolver.Node(LinkResolver.Kind.Missing);
        switch (entry.Kind)
        {
            case Made.Symlink: return new LinkResolver.Node(LinkResolver.Kind.Symlink, entry.Target);
            case Made.File: return new LinkResolver.Node(LinkResolver.Kind.Other);
            default:
                child = entry;
                return new LinkResolver.Node(LinkResolver.Kind.Directory);
        }
    }
}

using System.Formats.Tar;
using System.Text;
using Doras.Oci;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Artifacts;

/// <summary>
/// Packs a directory as a deterministic tar (sorted entries, owner 0, no access times), so publishing the
/// same tree twice gives the same bytes and deltas between versions stay small; and extracts a tar safely.
/// </summary>
public static class TarPacking
{
    /// <summary>
    /// Packs <paramref name="directory"/>. Symlinks are stored as links (a linked directory is never entered),
    /// dangling ones too; a link that leads outside the tree (see <see cref="LinkResolver"/>, the rule
    /// <see cref="ExtractAsync"/> applies on the device) is refused, naming it.
    /// </summary>
    public static async Task PackAsync(string directory, Stream output, CancellationToken ct = default)
    {
        var root = Path.GetFullPath(directory);
        var entries = new List<(string Name, FileSystemInfo Info)>();
        Collect(root, root, entries);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var (name, info) in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            PaxTarEntry entry;
            if (info.LinkTarget is { } target)
            {
                var parts = name.Split('/');
                if (LinkResolver.WhyOutside(root, parts[..^1], target, LookupSource) is { } why)
                    throw new IOException($"cannot publish {root}: '{name}' {why}; only links that stay inside the tree can be installed");
                entry = new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0b111_111_111 };
            }
            else
            {
                // A fifo would block the read below, and devices and sockets are not content: never published.
                if (info is FileInfo && OperatingSystem.IsLinux() && !UnixFileType.IsRegularFile(info.FullName))
                    throw new IOException($"cannot publish {root}: '{name}' is a special file (fifo, socket or device), which devices do not install");
                entry = info is DirectoryInfo ? new PaxTarEntry(TarEntryType.Directory, name + "/") : new PaxTarEntry(TarEntryType.RegularFile, name);
                entry.Mode = OperatingSystem.IsWindows() ? (UnixFileMode)0b110_100_100 : File.GetUnixFileMode(info.FullName);
            }
            entry.ModificationTime = new DateTimeOffset(info.LastWriteTimeUtc.Ticks - info.LastWriteTimeUtc.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
            if (entry.EntryType == TarEntryType.RegularFile)
            {
                await using var data = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
                entry.DataStream = data;
                await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            }
            else
            {
                await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Everything under <paramref name="directory"/>, by path relative to the root; never enters a symlink.</summary>
    private static void Collect(string root, string directory, List<(string Name, FileSystemInfo Info)> entries)
    {
        foreach (var info in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, ReturnSpecialDirectories = false }))
        {
            entries.Add((Path.GetRelativePath(root, info.FullName).Replace('\\', '/'), info));
            if (info.LinkTarget is null && info is DirectoryInfo) Collect(root, info.FullName, entries);
        }
    }

    /// <summary>A name in the tree being published, by its full path, never following it.</summary>
    private static LinkResolver.Node LookupSource(string directory, string name, out string? child)
    {
        var path = Path.Combine(directory, name);
        child = null;
        if (new FileInfo(path).LinkTarget is { } target) return new LinkResolver.Node(LinkResolver.Kind.Symlink, target);
        if (Directory.Exists(path))
        {
            child = path;
            return new LinkResolver.Node(LinkResolver.Kind.Directory);
        }
        return new LinkResolver.Node(File.Exists(path) ? LinkResolver.Kind.Other : LinkResolver.Kind.Missing);
    }

    /// <summary>
    /// Extracts into <paramref name="destination"/> (which must be empty or absent; Linux only). Every write goes
    /// through <see cref="BeneathDirectory"/>, which never follows a link, so nothing outside the destination
    /// is ever opened, created or changed. Refused, with a <see cref="HostileArchiveException"/> naming the
    /// entry: absolute paths and '..'; an entry written through a symlink or beneath a file; an entry that
    /// appears twice (a directory entry for a directory its children created is fine); a symlink that leads
    /// outside the destination or loops (<see cref="LinkResolver"/>), checked as it is written and again once
    /// all entries are, since a later entry can change where an earlier link leads; a hard link to anything
    /// but a regular file before it (made a hard link, or a copy where the file system has none); special files. Modes lose setuid and setgid;
    /// directories keep their owner's rwx.
    /// </summary>
    /// <param name="installedAt">Where the tree will be moved once extracted: every entry's path must fit Linux's
    /// PATH_MAX there as well as at <paramref name="destination"/>, or the installed tree could not be read,
    /// digested or removed by path (an entry that would not is refused as hostile).</param>
    public static async Task ExtractAsync(Stream tar, string destination, CancellationToken ct = default, string? installedAt = null)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("extracting a tree safely (never through a symlink) is implemented for Linux only");
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
            throw new IOException($"cannot extract into {destination}: it is not empty");
        var room = new PathRoom(destination, installedAt);
        using var tree = BeneathDirectory.Open(destination);
        var made = new ExtractedTree();
        var links = new List<(string[] Path, string Target, string Entry)>();
        var directoryTimes = new List<(string[] Path, string Entry, DateTime Time)>();
        await using var reader = new TarReader(tar, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes) continue;
            var what = $"tar entry '{entry.Name}'";
            var path = Components(entry.Name, entry.Name);
            room.Check(path, what);
            var isDirectory = entry.EntryType is TarEntryType.Directory;
            if (path.Length == 0 && !isDirectory) throw new HostileArchiveException($"{what} has an empty or invalid path");
            made.Record(path, isDirectory ? ExtractedTree.Made.Directory : entry.EntryType is TarEntryType.SymbolicLink ? ExtractedTree.Made.Symlink : ExtractedTree.Made.File,
                entry.EntryType is TarEntryType.SymbolicLink ? entry.LinkName : null, what);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    using (var directory = tree.CreateDirectory(path, what))
                        BeneathDirectory.SetMode(directory, entry.Mode | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    directoryTimes.Add((path, what, entry.ModificationTime.UtcDateTime));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    await using (var file = new FileStream(tree.CreateFile(path, what), FileAccess.Write, 1 << 16))
                    {
                        if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(file, ct).ConfigureAwait(false);
                        Finish(file, entry.Mode, entry.ModificationTime.UtcDateTime);
                    }
                    break;
                case TarEntryType.SymbolicLink:
                    if (LinkResolver.WhyOutside(made.Root, path[..^1], entry.LinkName, ExtractedTree.Lookup) is { } why)
                        throw new HostileArchiveException($"{what} {why}");
                    tree.CreateSymlink(path, entry.LinkName, what);
                    links.Add((path, entry.LinkName, what));
                    break;
                case TarEntryType.HardLink:
                    var source = Components(entry.LinkName, entry.Name);
                    room.Check(source, what);
                    made.CheckHardLinkSource(source, entry.LinkName, what);
                    if (tree.TryCreateHardLink(source, path, what)) break;
                    // A file system without hard links: a copy, through descriptors.
                    using (var from = new FileStream(tree.OpenFile(source, what), FileAccess.Read, 1 << 16))
                    await using (var to = new FileStream(tree.CreateFile(path, what), FileAccess.Write, 1 << 16))
                    {
                        await from.CopyToAsync(to, ct).ConfigureAwait(false);
                        Finish(to, File.GetUnixFileMode(from.SafeFileHandle), File.GetLastWriteTimeUtc(from.SafeFileHandle));
                    }
                    break;
                default:
                    throw new HostileArchiveException($"{what} is a {entry.EntryType}, which is not extracted");
            }
        }
        // A later entry can change where an earlier link leads (a link it passes through, a name it missed).
        foreach (var (path, target, what) in links)
            if (LinkResolver.WhyOutside(made.Root, path[..^1], target, ExtractedTree.Lookup) is { } why)
                throw new HostileArchiveException($"{what} {why}, once all entries are extracted");
        foreach (var (path, what, time) in directoryTimes)
            using (var directory = tree.OpenDirectory(path, what))
                File.SetLastWriteTimeUtc(directory, time);
    }

    /// <summary>Mode and time through the descriptor, then the content and both to disk, before the tree is swapped in.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void Finish(FileStream file, UnixFileMode mode, DateTime time)
    {
        file.Flush();
        BeneathDirectory.SetMode(file.SafeFileHandle, mode);
        File.SetLastWriteTimeUtc(file.SafeFileHandle, time);
        file.Flush(flushToDisk: true);
    }

    /// <summary>The longest path an entry may name (Linux's PATH_MAX less its terminator): deeper trees cannot be handled by path anyway.</summary>
    public const int MaxPathLength = 4095;

    /// <summary>The plain names of a path inside the tree ('.' and empty ones dropped), refusing absolute paths and '..'.</summary>
    private static string[] Components(string relative, string entryName)
    {
        if (string.IsNullOrEmpty(relative) || relative.Contains('\0'))
            throw new HostileArchiveException($"tar entry '{entryName}' has an empty or invalid path");
        if (Path.IsPathRooted(relative) || relative.StartsWith('/'))
            throw new HostileArchiveException($"tar entry '{entryName}' has an absolute path");
        if (Encoding.UTF8.GetByteCount(relative) > MaxPathLength)
            throw new HostileArchiveException($"tar entry '{Shorten(entryName)}' names a path longer than {MaxPathLength} bytes");
        var parts = relative.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Contains(".."))
            throw new HostileArchiveException($"tar entry '{entryName}' leads outside the target directory ('..')");
        if (parts.FirstOrDefault(p => Encoding.UTF8.GetByteCount(p) > MaxNameLength) is { } tooLong)
            throw new HostileArchiveException($"tar entry '{Shorten(entryName)}' has a name of {Encoding.UTF8.GetByteCount(tooLong)} bytes, over the {MaxNameLength} a file system allows (NAME_MAX)");
        return parts.Where(p => p != ".").ToArray();
    }

    /// <summary>A path or entry cut to a length a message can carry.</summary>
    internal static string Shorten(string text) => text.Length > 80 ? text[..80] + "…" : text;

    /// <summary>The longest name of one file or directory (Linux's NAME_MAX, in bytes).</summary>
    public const int MaxNameLength = 255;

    /// <summary>
    /// How long an entry's path may be: its full path, where it is extracted and where it is installed, must fit
    /// PATH_MAX. Checked on the names alone, before anything is created.
    /// </summary>
    private sealed class PathRoom
    {
        private readonly string _longestRoot;
        private readonly int _room;

        public PathRoom(string destination, string? installedAt)
        {
            _longestRoot = new[] { Path.GetFullPath(destination), installedAt is null ? "" : Path.GetFullPath(installedAt) }.MaxBy(Encoding.UTF8.GetByteCount)!;
            _room = MaxPathLength - Encoding.UTF8.GetByteCount(_longestRoot) - 1; // the '/' after the root
        }

        public void Check(string[] path, string what)
        {
            var bytes = path.Sum(Encoding.UTF8.GetByteCount) + Math.Max(0, path.Length - 1);
            if (bytes > _room)
                throw new HostileArchiveException(
                    $"{Shorten(what)} names a path of {bytes} bytes, which under {_longestRoot} would pass Linux's limit of {MaxPathLength} (PATH_MAX)");
        }
    }
}

/// <summary>An archive that tries to write outside its target or contains what we refuse to extract.</summary>
public sealed class HostileArchiveException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Verification;
}

using System.Formats.Tar;

namespace Doras.Delta.Artifacts;

/// <summary>
/// Packs a directory as a deterministic tar (sorted entries, owner 0, no access times), so publishing the
/// same tree twice gives the same bytes and deltas between versions stay small; and extracts a tar safely.
/// </summary>
public static class TarPacking
{
    public static async Task PackAsync(string directory, Stream output, CancellationToken ct = default)
    {
        var root = Path.GetFullPath(directory);
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var path in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions
                 {
                     RecurseSubdirectories = true, AttributesToSkip = 0, ReturnSpecialDirectories = false,
                 }).Order(StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            var name = Path.GetRelativePath(root, path).Replace('\\', '/');
            var info = new FileInfo(path);
            PaxTarEntry entry;
            if (info.LinkTarget is { } target)
                entry = new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target };
            else if (info.Attributes.HasFlag(FileAttributes.Directory))
                entry = new PaxTarEntry(TarEntryType.Directory, name + "/");
            else
                entry = new PaxTarEntry(TarEntryType.RegularFile, name);
            entry.ModificationTime = new DateTimeOffset(info.LastWriteTimeUtc.Ticks - info.LastWriteTimeUtc.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
            entry.Mode = OperatingSystem.IsWindows() ? (UnixFileMode)0b110_100_100 : File.GetUnixFileMode(path);
            if (entry.EntryType == TarEntryType.RegularFile)
            {
                await using var data = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
                entry.DataStream = data;
                await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            }
            else
            {
                await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Extracts into <paramref name="destination"/> (which must be empty or absent). Refuses absolute paths,
    /// paths with '..', links that lead outside the destination, and special files: a hostile tar gets a clear
    /// error, never a write outside the destination.
    /// </summary>
    public static async Task ExtractAsync(Stream tar, string destination, CancellationToken ct = default)
    {
        var root = Path.GetFullPath(destination);
        Directory.CreateDirectory(root);
        await using var reader = new TarReader(tar, leaveOpen: true);
        var directoryTimes = new List<(string Path, DateTimeOffset Time)>();
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes) continue;
            var target = ResolveInside(root, entry.Name, entry.Name);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(target);
                    if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, entry.Mode | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.UserRead);
                    directoryTimes.Add((target, entry.ModificationTime));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    RefuseExisting(target, entry.Name);
                    await using (var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                    {
                        if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(file, ct).ConfigureAwait(false);
                        file.Flush(flushToDisk: true); // durable before the tree is swapped in
                    }
                    if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, entry.Mode);
                    File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
                    break;
                case TarEntryType.SymbolicLink:
                    var linkDirectory = Path.GetDirectoryName(target)!;
                    if (Path.IsPathRooted(entry.LinkName))
                        throw new HostileArchiveException($"tar entry '{entry.Name}' is a symlink to the absolute path '{entry.LinkName}'");
                    ResolveInside(root, Path.GetRelativePath(root, Path.Combine(linkDirectory, entry.LinkName)), entry.Name);
                    Directory.CreateDirectory(linkDirectory);
                    RefuseExisting(target, entry.Name);
                    File.CreateSymbolicLink(target, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    var source = ResolveInside(root, entry.LinkName, entry.Name);
                    RefuseExisting(target, entry.Name);
                    File.Copy(source, target);
                    break;
                default:
                    throw new HostileArchiveException($"tar entry '{entry.Name}' is a {entry.EntryType}, which is not extracted");
            }
        }
        foreach (var (path, time) in directoryTimes) Directory.SetLastWriteTimeUtc(path, time.UtcDateTime);
    }

    /// <summary>The full path of <paramref name="relative"/> under root, refusing anything that leaves it or passes a symlink.</summary>
    private static string ResolveInside(string root, string relative, string entryName)
    {
        if (string.IsNullOrEmpty(relative) || relative.Contains('\0'))
            throw new HostileArchiveException($"tar entry '{entryName}' has an empty or invalid path");
        if (Path.IsPathRooted(relative) || relative.StartsWith('/'))
            throw new HostileArchiveException($"tar entry '{entryName}' has an absolute path");
        var parts = relative.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Contains(".."))
            throw new HostileArchiveException($"tar entry '{entryName}' leads outside the target directory ('..')");
        var full = Path.GetFullPath(Path.Combine(root, Path.Combine(parts.Where(p => p != ".").ToArray())));
        if (full != root && !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new HostileArchiveException($"tar entry '{entryName}' leads outside the target directory");
        // A symlink extracted earlier must not redirect later entries outside the tree.
        for (var dir = Path.GetDirectoryName(full); dir is not null && dir.Length > root.Length; dir = Path.GetDirectoryName(dir))
            if (new DirectoryInfo(dir).LinkTarget is not null)
                throw new HostileArchiveException($"tar entry '{entryName}' is written through a symlink");
        return full;
    }

    private static void RefuseExisting(string path, string entryName)
    {
        if (Path.Exists(path) || new FileInfo(path).LinkTarget is not null)
            throw new HostileArchiveException($"tar entry '{entryName}' appears twice");
    }
}

/// <summary>An archive that tries to write outside its target or contains what we refuse to extract.</summary>
public sealed class HostileArchiveException(string message) : IOException(message);

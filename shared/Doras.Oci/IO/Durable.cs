using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Doras.Oci.IO;

/// <summary>
/// Crash-safe file operations: content is written to a temporary file beside the target, flushed to disk,
/// renamed over the target, and the directory entry is flushed too, so after a power cut the target holds
/// either its old or its new content, never a mix.
/// </summary>
public static partial class Durable
{
    /// <summary>Writes a file atomically through a callback that fills the stream.</summary>
    public static Task WriteAtomicAsync(string path, Func<Stream, CancellationToken, Task> write, CancellationToken ct = default) =>
        WriteAtomicAsync(path, write, overwrite: true, ct);

    /// <summary>
    /// Writes a file atomically through a callback that fills the stream; without <paramref name="overwrite"/> the
    /// rename fails (<see cref="DestinationExistsException"/>) where a file stands at <paramref name="path"/>, even
    /// one that appeared while the content was written, which is then left untouched (<see cref="Move"/>).
    /// </summary>
    public static async Task WriteAtomicAsync(string path, Func<Stream, CancellationToken, Task> write, bool overwrite, CancellationToken ct = default)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await write(stream, ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            Move(temp, path, overwrite);
            FsyncDirectory(directory);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static Task WriteAllBytesAtomicAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default) =>
        WriteAtomicAsync(path, (s, c) => s.WriteAsync(content, c).AsTask(), ct);

    /// <summary>Renames a finished, flushed file into place and makes the rename itself durable.</summary>
    public static void MoveDurably(string source, string destination, bool overwrite)
    {
        Move(source, destination, overwrite);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    /// <summary>
    /// Renames <paramref name="source"/> to <paramref name="destination"/>. Without <paramref name="overwrite"/> the
    /// rename itself refuses an existing destination (<see cref="DestinationExistsException"/>): Linux's renameat2
    /// with RENAME_NOREPLACE, else a hard link (which never replaces) and the source's removal. File.Move alone checks
    /// first and then renames, which replaces a file that appears in between. Only a filesystem with neither falls
    /// back to that check.
    /// </summary>
    private static void Move(string source, string destination, bool overwrite)
    {
        if (overwrite || OperatingSystem.IsWindows()) // Windows' MoveFileEx without REPLACE_EXISTING refuses by itself
        {
            File.Move(source, destination, overwrite);
            return;
        }
        const int EEXIST = 17, AT_FDCWD = -100, RENAME_NOREPLACE = 1;
        var (from, to) = (Path.GetFullPath(source), Path.GetFullPath(destination));
        if (OperatingSystem.IsLinux())
        {
            try
            {
                if (RenameAt2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return;
                if (Marshal.GetLastPInvokeError() == EEXIST) throw Exists(destination);
                // EINVAL (a filesystem without the flag), ENOSYS (an old kernel), or another error that link reports too
            }
            catch (EntryPointNotFoundException) { }
        }
        try
        {
            if (Link(from, to) == 0)
            {
                File.Delete(from);
                return;
            }
            if (Marshal.GetLastPInvokeError() == EEXIST) throw Exists(destination);
        }
        catch (EntryPointNotFoundException) { }
        File.Move(source, destination, overwrite: false); // no hard links here either: the check, then the rename
    }

    private static DestinationExistsException Exists(string path) => new($"{path} exists");

    /// <summary>Flushes a file's content to disk.</summary>
    public static void FsyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Flushes a directory's entries (renames, creations) to disk. A no-op where the OS has no such call.</summary>
    public static void FsyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return;
        var fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return; // best effort: some filesystems refuse opening directories
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

    /// <summary>
    /// Atomically exchanges two paths (Linux renameat2 RENAME_EXCHANGE): both exist before and after, so a
    /// directory can be replaced without an instant where neither version is installed. Returns false where
    /// the kernel or filesystem does not support it.
    /// </summary>
    public static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        const int AT_FDCWD = -100, RENAME_EXCHANGE = 2;
        try
        {
            if (RenameAt2(AT_FDCWD, Path.GetFullPath(a), AT_FDCWD, Path.GetFullPath(b), RENAME_EXCHANGE) != 0) return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(a))!);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(b))!);
        return true;
    }

    /// <summary>
    /// Gives <paramref name="source"/>'s content a second name: a hard link (instant, no space until the
    /// original is replaced), or a durable copy where links are not possible.
    /// </summary>
    public static void LinkOrCopy(string source, string destination)
    {
        var linked = false;
        if (!OperatingSystem.IsWindows())
            try { linked = Link(Path.GetFullPath(source), Path.GetFullPath(destination)) == 0; }
            catch (EntryPointNotFoundException) { }
        if (!linked)
        {
            File.Copy(source, destination, overwrite: true);
            FsyncFile(destination);
        }
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    /// <summary>
    /// Asks the kernel to start writing <paramref name="file"/>'s bytes from <paramref name="from"/> to
    /// <paramref name="to"/> to disk now, without waiting (Linux sync_file_range): a long write that calls this as it
    /// goes overlaps its flushing with its work, so the fsync at its end has little left to wait for, and the device
    /// holds fewer dirty pages meanwhile. The range ends at the last whole page (a page still being filled would be
    /// written twice, and where the storage needs stable pages the next write into it would wait); returns that end,
    /// where the next call starts. Best effort, and nothing where the call does not exist: the final fsync is what
    /// makes the file durable.
    /// </summary>
    public static long StartWriteback(SafeFileHandle file, long from, long to)
    {
        var end = to - to % Environment.SystemPageSize;
        if (end <= from) return from;
        if (!OperatingSystem.IsLinux() || !_writebackAvailable) return end;
        const uint SYNC_FILE_RANGE_WRITE = 2;
        try { _ = SyncFileRange(file, from, end - from, SYNC_FILE_RANGE_WRITE); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _writebackAvailable = false; }
        return end;
    }

    private static bool _writebackAvailable = true;

    /// <summary>
    /// How much a long write writes between two <see cref="StartWriteback"/> calls: the 240 MiB firmware image's apply
    /// waited 92 ms for its final fsync without them (0.29-0.36 s in all), 2 ms with them (0.22-0.27 s).
    /// </summary>
    public const long WritebackStretchBytes = 8 << 20;

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range")]
    private static partial int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
}

/// <summary>A rename that must not replace found its destination taken; the destination is left as it was.</summary>
public sealed class DestinationExistsException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Usage; // replacing it is the caller's call (a flag such as --replace-existing)
}

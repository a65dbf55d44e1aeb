using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Artifacts;

/// <summary>
/// A directory worked on only from beneath itself, never through a symlink (Linux). It holds a descriptor of
/// its root, and every operation walks its path one component at a time with
/// <c>openat(dir, component, O_DIRECTORY|O_NOFOLLOW)</c> — each component the last of its call, so the kernel
/// never follows a link — then creates (<c>mkdirat</c>, <c>openat(O_CREAT|O_EXCL|O_NOFOLLOW)</c>,
/// <c>symlinkat</c>), reads (<c>readlinkat</c>) and changes modes and times through descriptors, never through
/// a path. A symlink in the tree, wherever it points, is only ever data: a walk that meets one refuses with a
/// <see cref="HostileArchiveException"/>, so nothing outside the root is ever opened, created or changed.
/// Paths are lists of plain names (no '', '.', '..', '/'). Modes set here lose setuid and setgid.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class BeneathDirectory : IDisposable
{
    private const int EPERM = 1, ENOENT = 2, EXDEV = 18, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMLINK = 31, ENAMETOOLONG = 36, ELOOP = 40, EOPNOTSUPP = 95;
    private const int AT_REMOVEDIR = 0x200;
    private const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private const int AT_FDCWD = -100;
    private const UnixFileMode SetIds = UnixFileMode.SetUser | UnixFileMode.SetGroup;

    /// <summary>O_DIRECTORY and O_NOFOLLOW differ by architecture; O_LARGEFILE is implied on 64 bits only.</summary>
    private static readonly (int Directory, int NoFollow, int LargeFile) Flags = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => (0x10000, 0x20000, 0),
        Architecture.Arm64 => (0x4000, 0x8000, 0),
        Architecture.Arm => (0x4000, 0x8000, 0x20000),
        _ => (0, 0, 0), // refused in Open: a wrong guess here would follow links
    };

    private readonly SafeFileHandle _root;

    private BeneathDirectory(SafeFileHandle root) => _root = root;

    /// <summary>Creates <paramref name="path"/> if needed and opens it (the path itself is the caller's: it may pass links).</summary>
    public static BeneathDirectory Open(string path)
    {
        if (Flags.Directory == 0)
            throw new PlatformNotSupportedException($"extracting safely needs the open flags of {RuntimeInformation.ProcessArchitecture}, which are not known here (x64, arm64 and arm are)");
        var full = Directory.CreateDirectory(path).FullName;
        var fd = OpenAt(AT_FDCWD, full, O_RDONLY | Flags.Directory | Flags.LargeFile | O_CLOEXEC, 0);
        if (fd < 0) throw Failure("open", full, Marshal.GetLastPInvokeError());
        return new BeneathDirectory(new SafeFileHandle(fd, ownsHandle: true));
    }

    public void Dispose() => _root.Dispose();

    /// <summary>Opens the directory at <paramref name="path"/> (the root when empty), creating missing ones when asked (mode 0755).</summary>
    public SafeFileHandle OpenDirectory(IReadOnlyList<string> path, string what, bool create = false) => Walk(path, path.Count, what, create);

    /// <summary>Opens the directory of the first <paramref name="count"/> components of <paramref name="path"/>, one at a time.</summary>
    private SafeFileHandle Walk(IReadOnlyList<string> path, int count, string what, bool create)
    {
        var current = OpenAtChecked(_root, ".", O_RDONLY | Flags.Directory, what, path, 0);
        for (var i = 0; i < count; i++)
        {
            using var parent = current;
            var fd = OpenAt(Fd(parent), path[i], O_RDONLY | Flags.Directory | Flags.NoFollow | Flags.LargeFile | O_CLOEXEC, 0);
            var errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == ENOENT && create)
            {
                // EEXIST: something appeared under that name since; the open below says what it is.
                if (MkdirAt(Fd(parent), path[i], 0b111_101_101) != 0 && Marshal.GetLastPInvokeError() != EEXIST)
                    throw Failure("mkdir", Join(path, i + 1), Marshal.GetLastPInvokeError());
                fd = OpenAt(Fd(parent), path[i], O_RDONLY | Flags.Directory | Flags.NoFollow | Flags.LargeFile | O_CLOEXEC, 0);
                errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            // With O_DIRECTORY the kernel reports a symlink as ENOTDIR: tell the two apart for the message.
            if (errno == ENOTDIR && ReadLink(parent, path[i], out _) is not null) errno = ELOOP;
            if (fd < 0) throw Refusal(what, path, i + 1, errno);
            current = new SafeFileHandle(fd, ownsHandle: true);
        }
        return current;
    }

    /// <summary>Creates the directory <paramref name="path"/> (parents too) or opens it if it is one already; never a link.</summary>
    public SafeFileHandle CreateDirectory(IReadOnlyList<string> path, string what) => OpenDirectory(path, what, create: true);

    /// <summary>Creates the new, empty regular file <paramref name="path"/> for writing (parents too); refuses if the name exists in any form.</summary>
    public SafeFileHandle CreateFile(IReadOnlyList<string> path, string what)
    {
        using var parent = Walk(path, ParentCount(path), what, create: true);
        return OpenAtChecked(parent, path[^1], O_WRONLY | O_CREAT | O_EXCL | Flags.NoFollow, what, path, 0b110_000_000);
    }

    /// <summary>Opens the existing regular file <paramref name="path"/> for reading; refuses a symlink or a directory.</summary>
    public SafeFileHandle OpenFile(IReadOnlyList<string> path, string what)
    {
        using var parent = Walk(path, ParentCount(path), what, create: false);
        // O_NONBLOCK: opening is never a wait, whatever the name is; it does not change reading a regular file.
        var handle = OpenAtChecked(parent, path[^1], O_RDONLY | O_NONBLOCK | Flags.NoFollow, what, path, 0);
        if (File.GetAttributes(handle).HasFlag(FileAttributes.Directory))
        {
            handle.Dispose();
            throw new HostileArchiveException($"{what}: '{Join(path)}' is a directory, not a file");
        }
        return handle;
    }

    /// <summary>Creates the symlink <paramref name="path"/> → <paramref name="target"/> (parents too); the target is stored, not followed.</summary>
    public void CreateSymlink(IReadOnlyList<string> path, string target, string what)
    {
        using var parent = Walk(path, ParentCount(path), what, create: true);
        if (SymlinkAt(target, Fd(parent), path[^1]) != 0)
            throw Refusal(what, path, path.Count, Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Makes <paramref name="path"/> a hard link to the existing <paramref name="source"/> (parents too), as tar does,
    /// so a thousand links to one large file take its space once. <c>linkat</c> without flags never follows a link
    /// at the source; callers only name a regular file they made. False when the file system cannot hard-link.
    /// </summary>
    public bool TryCreateHardLink(IReadOnlyList<string> source, IReadOnlyList<string> path, string what)
    {
        using var sourceParent = Walk(source, ParentCount(source), what, create: false);
        using var parent = Walk(path, ParentCount(path), what, create: true);
        if (LinkAt(Fd(sourceParent), source[^1], Fd(parent), path[^1], 0) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is EPERM or EOPNOTSUPP or EXDEV or EMLINK) return false;
        throw Refusal(what, path, path.Count, errno);
    }

    /// <summary>Sets the permission bits (without setuid and setgid) through the descriptor.</summary>
    public static void SetMode(SafeFileHandle handle, UnixFileMode mode) => File.SetUnixFileMode(handle, mode & ~SetIds);

    private static unsafe string? ReadLink(SafeFileHandle directory, string name, out int errno)
    {
        var buffer = new byte[4096]; // PATH_MAX: symlinkat refuses longer targets
        nint length;
        fixed (byte* p = buffer) length = ReadLinkAt(Fd(directory), name, p, buffer.Length);
        errno = length < 0 ? Marshal.GetLastPInvokeError() : 0;
        return length < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)length);
    }

    private static SafeFileHandle OpenAtChecked(SafeFileHandle parent, string name, int flags, string what, IReadOnlyList<string> path, uint mode)
    {
        var fd = OpenAt(Fd(parent), name, flags | Flags.LargeFile | O_CLOEXEC, mode);
        if (fd < 0) throw Refusal(what, path, path.Count, Marshal.GetLastPInvokeError());
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Why an operation on the first <paramref name="count"/> components of <paramref name="path"/> failed.</summary>
    private static IOException Refusal(string what, IReadOnlyList<string> path, int count, int errno)
    {
        var at = Join(path, count);
        var last = count == path.Count;
        return errno switch
        {
            ELOOP when last => new HostileArchiveException($"{what}: '{at}' is a symlink"),
            ELOOP => new HostileArchiveException($"{what} is written through a symlink ('{at}')"),
            ENOTDIR => new HostileArchiveException($"{what} is written beneath '{at}', which is not a directory"),
            EEXIST => new HostileArchiveException($"{what}: '{at}' exists already"),
            ENOENT => new HostileArchiveException($"{what}: '{at}' does not exist"),
            ENAMETOOLONG => new HostileArchiveException($"{what}: a name or link target in '{TarPacking.Shorten(at)}' is longer than the file system allows"),
            _ => Failure("open", at, errno),
        };
    }

    private static IOException Failure(string operation, string path, int errno) =>
        new($"{operation} '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    /// <summary>
    /// Removes the tree at <paramref name="path"/> (a directory, a file or a link; nothing when absent), however
    /// deep it is: each level is opened from its parent's descriptor and its entries listed through
    /// <c>/proc/self/fd</c>, so no path handed to the kernel is longer than one name plus a descriptor number,
    /// where <see cref="Directory.Delete(string, bool)"/> fails past PATH_MAX and would leave a staging tree that
    /// no later update could remove. Links are removed, never followed.
    /// </summary>
    public static void DeleteTree(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (!Directory.Exists("/proc/self/fd"))
        {
            // No /proc (a chroot, early boot): by path, which reaches any tree this client extracts (PathRoom).
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            else File.Delete(full);
            return;
        }
        var parent = Path.GetDirectoryName(full) ?? throw new ArgumentException("the root cannot be deleted", nameof(path));
        var parentFd = OpenAt(AT_FDCWD, parent, O_RDONLY | Flags.Directory | Flags.LargeFile | O_CLOEXEC, 0);
        if (parentFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) return;
            throw Failure("open", parent, errno);
        }
        using var handle = new SafeFileHandle(parentFd, ownsHandle: true);
        RemoveEntry(handle, Path.GetFileName(full), full);
    }

    /// <summary>Unlinks one name in a directory; a directory is emptied first, through its own descriptor.</summary>
    private static void RemoveEntry(SafeFileHandle directory, string name, string shownAs)
    {
        if (UnlinkAt(Fd(directory), name, 0) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ENOENT) return;
        if (errno is not (EISDIR or EPERM)) throw Failure("unlink", shownAs, errno);
        var fd = OpenAt(Fd(directory), name, O_RDONLY | Flags.Directory | Flags.NoFollow | Flags.LargeFile | O_CLOEXEC, 0);
        if (fd < 0) throw Failure("open", shownAs, Marshal.GetLastPInvokeError());
        using (var child = new SafeFileHandle(fd, ownsHandle: true))
        {
            // The owner may have taken its own write or search bit away; it is ours to give back before emptying.
            try { File.SetUnixFileMode(child, File.GetUnixFileMode(child) | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
            catch (UnauthorizedAccessException) { } // not ours: the unlinks below say so
            // Listed whole before removing: a directory is not changed while it is being read.
            foreach (var entry in Directory.GetFileSystemEntries($"/proc/self/fd/{fd}"))
                RemoveEntry(child, Path.GetFileName(entry), shownAs + "/…");
        }
        if (UnlinkAt(Fd(directory), name, AT_REMOVEDIR) != 0 && Marshal.GetLastPInvokeError() is var e && e != ENOENT)
            throw Failure("rmdir", shownAs, e);
    }

    private static int ParentCount(IReadOnlyList<string> path) =>
        path.Count > 0 ? path.Count - 1 : throw new ArgumentException("an empty path has no parent", nameof(path));

    private static string Join(IReadOnlyList<string> path, int? count = null) => string.Join('/', path.Take(count ?? path.Count));

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    [LibraryImport("libc", EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenAt(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "linkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LinkAt(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport("libc", EntryPoint = "unlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int UnlinkAt(int dirfd, string path, int flags);

    [LibraryImport("libc", EntryPoint = "mkdirat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkdirAt(int dirfd, string path, uint mode);

    [LibraryImport("libc", EntryPoint = "symlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SymlinkAt(string target, int newdirfd, string linkpath);

    [LibraryImport("libc", EntryPoint = "readlinkat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial nint ReadLinkAt(int dirfd, string path, byte* buffer, nint size);
}

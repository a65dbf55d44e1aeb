using System.Runtime.InteropServices;

namespace Doras.Delta.Artifacts;

/// <summary>
/// The type of a file system entry without following it (statx, whose layout is the same on every
/// architecture): .NET tells a fifo, a socket or a device from a regular file by no other means.
/// </summary>
internal static partial class UnixFileType
{
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxType = 1;
    private const int ModeOffset = 0x1C, TypeMask = 0xF000, Regular = 0x8000;

    /// <summary>True for a regular file; false for a fifo, socket, device, directory or link.</summary>
    public static unsafe bool IsRegularFile(string path)
    {
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
            throw new IOException($"cannot tell what {path} is: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return (*(ushort*)(buffer + ModeOffset) & TypeMask) == Regular;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}

using System.Runtime.InteropServices;

namespace Doras.Delta.Zstd;

/// <summary>
/// Gives back to the system the pages a process has mapped from a file (madvise MADV_DONTNEED): they leave its resident
/// memory but not the page cache, so what is read again faults back in from there, and written pages of a shared
/// mapping are still written back. Only for file mappings: anonymous memory would read back as zeros.
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int DontNeed = 4; // MADV_DONTNEED on Linux
    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Releases the whole pages inside [<paramref name="start"/>, +<paramref name="length"/>); false where this cannot be done (nothing is lost: the pages stay).</summary>
    public static bool Release(byte* start, long length)
    {
        if (_unavailable) return false;
        var page = (nuint)Environment.SystemPageSize;
        var from = ((nuint)start + page - 1) & ~(page - 1);
        var to = ((nuint)start + (nuint)length) & ~(page - 1);
        if (to <= from) return true;
        try { Madvise((void*)from, to - from, DontNeed); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true; // a C library by another name (musl): the pages stay resident, as before
            return false;
        }
        return true;
    }

    [LibraryImport("libc.so.6", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}

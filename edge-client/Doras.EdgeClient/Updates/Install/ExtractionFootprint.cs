using System.Formats.Tar;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>
/// What extracting a tar really takes on disk: every file rounded up to whole filesystem blocks, and a cost per
/// entry (directory blocks, inodes), so a tree of many small files is not taken for the sum of their sizes.
/// Read from the headers alone (the data is skipped, not read).
/// </summary>
internal static class ExtractionFootprint
{
    /// <summary>The common block size of ext4, XFS and F2FS; statvfs is not exposed by .NET.</summary>
    public const long BlockSize = 4096;

    /// <summary>Directory entry, inode share and metadata of one entry, on the safe side.</summary>
    public const long PerEntry = 512;

    public static async Task<long> OfAsync(string tarPath, CancellationToken ct)
    {
        await using var stream = new FileStream(tarPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await using var reader = new TarReader(stream);
        long total = 0;
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            var blocks = entry.EntryType == TarEntryType.Directory ? BlockSize : RoundUp(entry.Length);
            total += blocks + PerEntry;
        }
        return total;
    }

    private static long RoundUp(long size) => (size + BlockSize - 1) / BlockSize * BlockSize;
}

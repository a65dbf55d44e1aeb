namespace Doras.EdgeClient.Updates;

/// <summary>Human-readable sizes and one-line descriptions of update results, for logs and command lines.</summary>
public static class Format
{
    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.0} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.0} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB",
    };

    public static string Describe(UpdateResult r) => r.Mode switch
    {
        UpdateMode.UpToDate => $"up to date: {r.InstalledPath} is {r.ManifestDigest}",
        UpdateMode.RolledBack => $"rolled back: {r.InstalledPath} is {r.ManifestDigest} again",
        UpdateMode.Delta => $"delta update: {r.InstalledPath} is now {r.ManifestDigest}; downloaded {Bytes(r.BytesDownloaded)} ({r.BytesDownloaded} bytes) instead of the full {Bytes(r.FullDownloadSize)} ({r.PercentOfFull:0.0}% of it)",
        _ => $"full download: {r.InstalledPath} is now {r.ManifestDigest}; downloaded {Bytes(r.BytesDownloaded)} ({r.BytesDownloaded} bytes) because {r.FallbackReason}",
    };
}

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

    /// <summary>A phase in words, for people.</summary>
    public static string Phase(UpdatePhase phase) => phase switch
    {
        UpdatePhase.Checking => "checking",
        UpdatePhase.WaitingForDelta => "asking the server for a delta", // it may be ready, building, or say up to date
        UpdatePhase.Downloading => "downloading",
        UpdatePhase.Applying => "applying the delta",
        UpdatePhase.Installing => "installing",
        _ => "done",
    };

    /// <summary>A span as people say it: 3 s, 5 min, 24 h, 7 d.</summary>
    public static string Duration(TimeSpan span) => span switch
    {
        _ when span == Timeout.InfiniteTimeSpan => "ever",
        { TotalSeconds: < 60 } => $"{span.TotalSeconds:0.#} s",
        { TotalMinutes: < 60 } => $"{span.TotalMinutes:0.#} min",
        { TotalHours: < 48 } => $"{span.TotalHours:0.#} h",
        _ => $"{span.TotalDays:0.#} d",
    };

    public static string Describe(UpdateResult r) => r.Mode switch
    {
        UpdateMode.UpToDate => $"up to date: {r.InstalledPath} is {r.ManifestDigest}",
        UpdateMode.RolledBack => $"rolled back: {r.InstalledPath} is {r.ManifestDigest} again",
        UpdateMode.Delta => $"delta update: {r.InstalledPath} is now {r.ManifestDigest}; downloaded {Bytes(r.BytesDownloaded)} ({r.BytesDownloaded} bytes) instead of the full {Bytes(r.FullDownloadSize)} ({r.PercentOfFull:0.0}% of it)" + (r.FallbackReason is { } detail ? $"; {detail}" : ""),
        _ => $"full download: {r.InstalledPath} is now {r.ManifestDigest}; downloaded {Bytes(r.BytesDownloaded)} ({r.BytesDownloaded} bytes) because {r.FallbackReason}",
    };
}

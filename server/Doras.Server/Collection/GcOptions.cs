namespace Doras.Server.Collection;

/// <summary>Configuration section "Gc": which deltas are kept, and when garbage collection runs.</summary>
public sealed class GcOptions
{
    public const string Section = "Gc";

    /// <summary>Run garbage collection periodically in the server (<c>doras-server gc</c> runs it once either way).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often the server collects.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(6);

    /// <summary>Deltas between any two of a repository's latest N versions (by creation time) are kept.</summary>
    public int KeepLatestVersions { get; set; } = 5;

    /// <summary>Deltas asked for (answered ready) or built within this time are kept, whatever their versions.</summary>
    public TimeSpan KeepRequestedWithin { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Repositories to collect; empty: every repository of the embedded store, or the registry's catalog.</summary>
    public List<string> Repositories { get; set; } = [];

    /// <summary>Embedded store: an unreferenced blob younger than this is left alone (a push may be under way).</summary>
    public TimeSpan BlobGracePeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the record of when each delta was last asked for is written to the store.</summary>
    public TimeSpan UsageFlushInterval { get; set; } = TimeSpan.FromMinutes(10);
}

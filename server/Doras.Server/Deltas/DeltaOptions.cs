namespace Doras.Server.Deltas;

/// <summary>Configuration section "Delta": how deltas are built.</summary>
public sealed class DeltaOptions
{
    public const string Section = "Delta";

    /// <summary>zstd level for patch-from deltas (1..22).</summary>
    public int ZstdLevel { get; set; } = 19;

    /// <summary>zstd worker threads per build; 0 compresses on one thread.</summary>
    public int ZstdWorkers { get; set; }

    /// <summary>How many deltas are built at once; further requests wait their turn (and get 202).</summary>
    public int MaxConcurrentBuilds { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Scratch space for builds; the system temp directory when empty.</summary>
    public string? WorkDirectory { get; set; }

    /// <summary>How long a failed build is reported as failed before a new request may try again (doubled for each further failure in a row: <see cref="FailureRetentionAfter"/>).</summary>
    public TimeSpan FailureRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The longest a failure in a row stands (<see cref="FailureRetentionAfter"/>; <see cref="FailureRetention"/> when that is longer).</summary>
    public TimeSpan MaxFailureRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long the failure of a delta's build stands, when it is the <paramref name="failures"/>th in a row:
    /// <see cref="FailureRetention"/>, doubled for each failure before it, at most <see cref="MaxFailureRetention"/>. A
    /// pair whose build keeps failing (one that times out costs up to <see cref="BuildTimeout"/> each time) is tried
    /// ever more rarely, not every <see cref="FailureRetention"/> for as long as someone asks.
    /// </summary>
    public TimeSpan FailureRetentionAfter(int failures)
    {
        var ticks = FailureRetention.Ticks * Math.Pow(2, Math.Clamp(failures - 1, 0, 62));
        return ticks < MaxFailureRetention.Ticks ? TimeSpan.FromTicks((long)ticks) : TimeSpan.FromTicks(Math.Max(MaxFailureRetention.Ticks, FailureRetention.Ticks));
    }

    /// <summary>
    /// A "building" placeholder not renewed for this long is taken to belong to a dead instance, and the delta is built
    /// again. Live owners renew theirs every <c>Delta:HeartbeatInterval</c> (15 s), so keep this a few intervals long.
    /// </summary>
    public TimeSpan PlaceholderExpiry { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often to look whether another instance has finished the delta this one waits for.</summary>
    public TimeSpan PlaceholderPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long after writing its placeholder an instance looks again whether its claim is the one that stuck.</summary>
    public TimeSpan ClaimSettleDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>With <c>auto</c>: after the first candidate algorithm, others are tried, and stopped, only while the build has taken less than this.</summary>
    public TimeSpan AutoBudget { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The longest one build may take, from downloading the versions to the checked delta (its candidates after the first
    /// stop at <see cref="AutoBudget"/> already; this bounds the first one, the checks and the downloads; the store that
    /// follows is bounded by the registry client's own limits). Past it the build stops and is recorded as a delta the
    /// server cannot make. At most 49 days (<see cref="BuildTimeValidation"/>).
    /// </summary>
    public TimeSpan BuildTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// With <c>auto</c>: a delta over this fraction of the full download is not worth it (406, download the full
    /// artifact). The margin is small because applying a delta costs the device about what decoding the download does
    /// (swc's 10 MB library, benchmarks/RESULTS.md: 0.05-0.07 s and 17 MiB), so bytes decide: at 0.9 its 10,015,993-byte
    /// delta, 97 % of the 10,331,257-byte download, was refused and the device downloaded 315 KB more than it had to.
    /// </summary>
    public double AutoMaxRatio { get; set; } = 0.98;

    /// <summary>Largest version bsdiff builds from (it needs about 9 bytes of memory per byte); larger ones use the other algorithms.</summary>
    public long BsdiffMaxInputBytes { get; set; } = 512L << 20;

    /// <summary>Largest uncompressed layer an image delta reads (a gzip bomb stops here); larger layers fail the build.</summary>
    public long MaxImageLayerBytes { get; set; } = 8L << 30;

    /// <summary>Largest Octodiff signature accepted by the signature endpoint (about 1.3 % of the file it describes).</summary>
    public long MaxSignatureBytes { get; set; } = 64L << 20;

    /// <summary>How long a device may take to upload its signature (the request holds a build slot meanwhile).</summary>
    public TimeSpan SignatureUploadTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Largest Retry-After hint sent with 202.</summary>
    public int MaxRetryAfterSeconds { get; set; } = 30;
}

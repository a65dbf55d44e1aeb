using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>Configuration of the build queue and of claims (section "Delta", beside <see cref="DeltaOptions"/>).</summary>
public sealed class BuildQueueOptions
{
    public const string Section = "Delta";

    /// <summary>
    /// How many builds this instance takes on at once: running, waiting for a build slot, or waiting for another
    /// instance's build. A request that would start one more is answered 503 with <c>Retry-After</c>.
    /// </summary>
    public int QueueCapacity { get; set; } = 64;

    /// <summary>How often a running build renews its placeholder; another instance takes over after <c>Delta:PlaceholderExpiry</c> without renewal.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A Redis server (StackExchange.Redis configuration, e.g. <c>127.0.0.1:6379</c>) holding a lease per delta build,
    /// taken atomically, so no two instances ever build the same delta at once; empty (the default): placeholders only.
    /// </summary>
    public string? RedisLease { get; set; }

    /// <summary>
    /// TEST ONLY: every build waits this long after claiming its delta, before computing it, so tests and the load
    /// benchmark can kill or stop an instance in the middle of a build deterministically. Zero (the default) in production.
    /// </summary>
    public TimeSpan TestOnlyBuildDelay { get; set; }
}

/// <summary>
/// Admission to the build queue: at most <see cref="BuildQueueOptions.QueueCapacity"/> builds taken on at once, so
/// a flood of requests for distinct deltas cannot queue unbounded work (they get 503 and come back later).
/// </summary>
public sealed class BuildQueue(IOptions<BuildQueueOptions> options)
{
    private int _admitted;

    public int Capacity => Math.Max(1, options.Value.QueueCapacity);

    /// <summary>Builds taken on and not finished: running, waiting for a slot, or waiting for another instance.</summary>
    public int Depth => Volatile.Read(ref _admitted);

    /// <summary>Takes a place in the queue, or false when it is full.</summary>
    public bool TryEnter()
    {
        while (true)
        {
            var admitted = Volatile.Read(ref _admitted);
            if (admitted >= Capacity) return false;
            if (Interlocked.CompareExchange(ref _admitted, admitted + 1, admitted) == admitted) return true;
        }
    }

    public void Leave() => Interlocked.Decrement(ref _admitted);
}

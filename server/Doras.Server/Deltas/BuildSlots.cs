using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>
/// The server's delta-computing capacity, <c>Delta:MaxConcurrentBuilds</c> slots shared by every kind of build:
/// background builds of stored deltas wait for a slot; per-request signature deltas take one at once or are
/// turned away (503), so no request can make the server compute more at once than it is sized for.
/// </summary>
public sealed class BuildSlots(IOptions<DeltaOptions> options) : IDisposable
{
    private readonly int _capacity = Math.Max(1, options.Value.MaxConcurrentBuilds);
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentBuilds));
    private int _waiting;

    /// <summary>Slots taken now (for the metrics).</summary>
    public int InUse => _capacity - _slots.CurrentCount;

    /// <summary>Builds waiting for a slot now (for the metrics).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Waits for a slot; dispose the lease to give it back.</summary>
    public async Task<IDisposable> WaitAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _waiting);
        try { await _slots.WaitAsync(ct).ConfigureAwait(false); }
        finally { Interlocked.Decrement(ref _waiting); }
        return new Lease(_slots);
    }

    /// <summary>A slot if one is free now, else null.</summary>
    public IDisposable? TryTake() => _slots.Wait(0) ? new Lease(_slots) : null;

    public void Dispose() => _slots.Dispose();

    private sealed class Lease(SemaphoreSlim slots) : IDisposable
    {
        private int _released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) slots.Release();
        }
    }
}

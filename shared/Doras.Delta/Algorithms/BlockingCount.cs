namespace Doras.Delta.Algorithms;

/// <summary>
/// A counting semaphore whose waiters block at once instead of spinning first, for two threads handing buffers to
/// each other (<see cref="BufferRing"/>): on a device with two cores
/// and three busy threads, a spinning waiter takes the core the thread it waits for needs. <see cref="SemaphoreSlim"/>
/// spun and yielded on every hand-over (biome-arm64's apply: 12 % of its CPU in spinning, sched_yield and task switches).
/// </summary>
internal sealed class BlockingCount(int initial, int max)
{
    private readonly object _gate = new();
    private int _count = initial;

    public void Wait()
    {
        lock (_gate)
        {
            while (_count == 0) Monitor.Wait(_gate);
            _count--;
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            if (_count == max) throw new SemaphoreFullException();
            _count++;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Sets the count to its maximum, waking every waiter: how a consumer that stops early frees its producer.</summary>
    public void Fill()
    {
        lock (_gate)
        {
            _count = max;
            Monitor.PulseAll(_gate);
        }
    }
}

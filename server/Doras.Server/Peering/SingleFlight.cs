namespace Doras.Server.Peering;

/// <summary>
/// At most one task in flight per key: a caller asking for a key whose task is running shares that task instead of
/// starting another, and the key is free again as soon as the task ends, done or failed. At most
/// <paramref name="capacity"/> keys are in flight at once; past that, <see cref="Join"/> starts nothing and answers null.
/// </summary>
public sealed class SingleFlight<TKey, TResult>(int capacity) where TKey : notnull
{
    private readonly Dictionary<TKey, Task<TResult>> _running = new();
    private readonly Lock _lock = new();
    private long _shared;

    /// <summary>How many callers shared a task another caller started (for logs and tests).</summary>
    public long Shared => Interlocked.Read(ref _shared);

    public int Running
    {
        get { lock (_lock) return _running.Count; }
    }

    /// <summary>The running task of <paramref name="key"/>, or a new one from <paramref name="start"/>; null when full.</summary>
    public Task<TResult>? Join(TKey key, Func<Task<TResult>> start)
    {
        TaskCompletionSource<TResult> started;
        lock (_lock)
        {
            if (_running.TryGetValue(key, out var running))
            {
                Interlocked.Increment(ref _shared);
                return running;
            }
            if (_running.Count >= capacity) return null;
            started = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            _running[key] = started.Task;
        }
        _ = RunAsync(key, start, started);
        return started.Task;
    }

    private async Task RunAsync(TKey key, Func<Task<TResult>> start, TaskCompletionSource<TResult> started)
    {
        try
        {
            var result = await start().ConfigureAwait(false);
            Leave(key);
            started.SetResult(result);
        }
        catch (Exception e)
        {
            Leave(key);
            started.SetException(e); // every caller waiting sees the failure; the next caller starts afresh
        }
    }

    private void Leave(TKey key)
    {
        lock (_lock) _running.Remove(key);
    }
}

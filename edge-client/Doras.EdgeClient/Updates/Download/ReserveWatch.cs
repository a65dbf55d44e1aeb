namespace Doras.EdgeClient.Updates.Download;

/// <summary>
/// Keeps <see cref="UpdateOptions.ReserveBytes"/> free while an update writes, not only when it starts: the check
/// up front (<see cref="FreeSpace"/>) cannot see what an apply spools, what extraction really takes, or what
/// other programs write meanwhile. It reads the free space of the work directory's file system every
/// <see cref="Interval"/> and, the moment it is below the reserve, cancels the update's token (not armed when free
/// space is below the reserve already as the update begins: the check up front refuses anything that writes); the updater
/// then reports <see cref="Breach"/> (exit 5) and removes what the update wrote. What one interval can write is
/// the most the reserve is ever short by. The install's records after its swap do not listen to the token.
/// </summary>
internal sealed class ReserveWatch : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly string _directory;
    private readonly long _threshold;
    private readonly CancellationTokenSource _cancel;
    private readonly Action<InsufficientStorageException> _breached;
    private readonly ITimer? _timer;
    private readonly object _gate = new(); // one tick at a time, and none after Dispose
    private bool _disposed;
    private volatile InsufficientStorageException? _breach;

    /// <param name="breached">Told once, from the timer's thread, when the reserve is breached (the updater logs it).</param>
    public ReserveWatch(string directory, long reserve, TimeProvider time, Action<InsufficientStorageException> breached, CancellationToken ct)
    {
        _directory = directory;
        _breached = breached;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Reserve = reserve;
        // Already short of the reserve: not armed, so a device in that state can still find itself up to date; anything
        // that writes is refused by the check up front instead.
        if (reserve <= 0 || Available() is not { } available || available < reserve) return;
        _threshold = reserve;
        _timer = time.CreateTimer(_ => Check(), null, Interval, Interval);
    }

    private long Reserve { get; }

    /// <summary>The update's token: cancelled by the caller's, or when the reserve is breached.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Why the update was stopped, once free space fell below the reserve.</summary>
    public InsufficientStorageException? Breach => _breach;

    private long? Available()
    {
        try { return new DriveInfo(_directory).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // the next tick sees it again
    }

    private void Check()
    {
        // A timer callback must never throw: an exception on the timer's thread would end the process.
        try
        {
            lock (_gate)
            {
                if (_disposed || _breach is not null) return;
                if (Available() is not { } available || available >= _threshold) return;
                _breach = new InsufficientStorageException(
                    $"free space in {_directory} fell to {available} bytes while updating, below the {Reserve} bytes kept free (--reserve-bytes); the update was stopped and its files removed");
                _cancel.Cancel();
            }
            _breached(_breach);
        }
        catch (Exception)
        {
            // A cancellation callback or the log failed: the breach is recorded and the token cancelled (or not), nothing more to do here.
        }
    }

    public void Dispose()
    {
        lock (_gate) _disposed = true;
        _timer?.Dispose();
        _cancel.Dispose();
    }
}

namespace Doras.EdgeClient.Updates.Download;

/// <summary>
/// Keeps <see cref="UpdateOptions.ReserveBytes"/> free while an update writes, not only when it starts: the check
/// up front (<see cref="FreeSpace"/>) cannot see what an apply spools, what extraction really takes, or what
/// other programs write meanwhile. It reads the free space of the work directory's file system every
/// <see cref="Interval"/> and, the moment it is below the reserve, cancels the update's token; the updater
/// then reports <see cref="Breach"/> (exit 5) and removes what the update wrote. What one interval can write
/// is the most the reserve is ever short by.
/// </summary>
internal sealed class ReserveWatch : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly string _directory;
    private readonly long _reserve;
    private readonly CancellationTokenSource _cancel;
    private readonly ITimer? _timer;

    private readonly Action<InsufficientStorageException> _breached;

    /// <param name="breached">Told once, from the timer's thread, when the reserve is breached (the updater logs it).</param>
    public ReserveWatch(string directory, long reserve, TimeProvider time, Action<InsufficientStorageException> breached, CancellationToken ct)
    {
        _directory = directory;
        _breached = breached;
        _reserve = reserve;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (reserve > 0) _timer = time.CreateTimer(_ => Check(), null, Interval, Interval);
    }

    /// <summary>The update's token: cancelled by the caller's, or when the reserve is breached.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Why the update was stopped, once free space fell below the reserve.</summary>
    public InsufficientStorageException? Breach { get; private set; }

    private void Check()
    {
        if (Breach is not null) return;
        long available;
        try { available = new DriveInfo(_directory).AvailableFreeSpace; }
        catch (IOException) { return; } // the directory is being replaced: the next tick sees it again
        if (available >= _reserve) return;
        Breach = new InsufficientStorageException(
            $"free space in {_directory} fell to {available} bytes while updating, below the {_reserve} bytes kept free (--reserve-bytes); the update was stopped and its files removed");
        _cancel.Cancel();
        _breached(Breach);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _cancel.Dispose();
    }
}

namespace Doras.Oci.IO;

/// <summary>
/// An exclusive advisory lock on a lock file, held across processes (flock on Unix) and across threads of
/// this process. Waits with short sleeps until the lock is free or the timeout passes.
/// </summary>
public sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream) => _stream = stream;

    public static async Task<FileLock> AcquireAsync(string lockPath, TimeSpan timeout, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(lockPath))!);
        var deadline = DateTime.UtcNow + timeout;
        var delay = 1;
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 50);
            }
            catch (IOException e)
            {
                throw new LockContentionException($"{lockPath} is locked by another update (waited {timeout.TotalSeconds:0.#} s): {e.Message}", e);
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>Another process (or thread) held the lock for the whole wait: another update of the same target is running.</summary>
public sealed class LockContentionException(string message, Exception inner) : TimeoutException(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Locked;
}

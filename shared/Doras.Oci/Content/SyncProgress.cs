namespace Doras.Oci.Content;

/// <summary>
/// Reports at once on the reporting thread, in order (<see cref="Progress{T}"/> posts to the thread pool, out of
/// order, and may report after the work is done): for counting and logging what a copy or a packing did.
/// </summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

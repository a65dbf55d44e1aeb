using System.Buffers;
using Doras.Delta.Zstd;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// A file mapped read-only as <see cref="ReadOnlyMemory{T}"/>, for readers that go through it in order (the new
/// version of a bsdiff build: its covers, its scan and its parts): what they are done with is given back to the system
/// (<see cref="DoneWith"/>), so its resident memory is a window rather than the file (the 240 MiB firmware image's
/// build held both versions in managed arrays: 480 MiB of its 696 MiB peak). Read again, the pages fault back in from
/// the page cache, so a reader that gives back too much only costs time, never bytes. The file must keep its length
/// while mapped (<see cref="NativeView.MapVersion"/>).
/// </summary>
internal sealed unsafe class MappedBytes : MemoryManager<byte>
{
    private readonly NativeView _view;
    private int _disposed;

    public MappedBytes(string path, long expectedLength)
    {
        _view = NativeView.MapVersion(path, expectedLength);
        if (_view.Length > int.MaxValue)
        {
            _view.Dispose();
            throw new IOException($"{path} is over 2 GiB");
        }
    }

    /// <summary>Gives back the whole pages of [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public void DoneWith(int start, int end)
    {
        // Never after the mapping is closed: the range may hold other memory by then, which DONTNEED would wipe. Only a
        // guard: readers end before the mapping is closed (WrappedStream.RunWithLargeStackAsync waits for them).
        if (end > start && Volatile.Read(ref _disposed) == 0) MappedPages.Release(_view.Pointer + start, end - start);
    }

    public override Span<byte> GetSpan() => _view.Length == 0 ? default : new Span<byte>(_view.Pointer, (int)_view.Length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_view.Pointer + elementIndex);

    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _view.Dispose();
    }
}

/// <summary>
/// Where a reader of the new version says which stretch [start, end) it is done with, so its memory can be given back
/// (<see cref="MappedBytes.DoneWith"/>); null where the version is an array.
/// </summary>
public delegate void DoneWith(int start, int end);

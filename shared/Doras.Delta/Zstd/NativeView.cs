using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Doras.Delta.Zstd;

/// <summary>
/// A read-only block of native memory zstd can reference as a prefix: a memory-mapped file (its pages come
/// from the page cache and are never copied into the managed heap) or a pinned managed array.
/// </summary>
public abstract unsafe class NativeView : IDisposable
{
    public abstract byte* Pointer { get; }
    public abstract long Length { get; }

    /// <summary>Whether this is a whole read-only file mapping, whose pages can be given back and read again (<see cref="MappedPages"/>).</summary>
    internal virtual bool IsFileMapping => false;
    public abstract void Dispose();

    public static NativeView MapFile(string path) => new MappedFileView(path);

    /// <summary>
    /// A version's file mapped, refused unless it still holds the size it was hashed at (a delta's header names that
    /// size and digest; a file that shrinks while mapped would fault, so it must be the build's own, unchanging).
    /// </summary>
    public static NativeView MapVersion(string path, long expectedLength)
    {
        var view = MapFile(path);
        if (view.Length == expectedLength) return view;
        view.Dispose();
        throw new IOException($"{path} changed while the delta was built: it was hashed at {expectedLength} bytes, now holds {view.Length}");
    }

    public static NativeView Pin(byte[] bytes) => new PinnedArrayView(bytes);

    /// <summary>A part of this view (which must outlive it); disposing the part leaves this view alone.</summary>
    public NativeView Slice(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Length);
        return new SliceView(Pointer + offset, length);
    }

    /// <summary>The bytes [offset, +length) as a span (at most 2 GiB).</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, Length);
        return length == 0 ? default : new ReadOnlySpan<byte>(Pointer + offset, length);
    }

    private sealed class SliceView(byte* pointer, long length) : NativeView
    {
        public override byte* Pointer => pointer;
        public override long Length => length;
        public override void Dispose() { }
    }

    private sealed class MappedFileView : NativeView
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private readonly byte* _pointer;

        public MappedFileView(string path)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Length = stream.Length;
            if (Length == 0) return; // an empty file cannot be mapped; a null prefix of length 0 is valid
            _file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _pointer = p + _view.PointerOffset;
        }

        public override byte* Pointer => _pointer;
        public override long Length { get; }
        internal override bool IsFileMapping => _view is not null;

        public override void Dispose()
        {
            if (_view is not null)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
            }
            _file?.Dispose();
        }
    }

    private sealed class PinnedArrayView(byte[] bytes) : NativeView
    {
        private GCHandle _handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);

        public override byte* Pointer => (byte*)_handle.AddrOfPinnedObject();
        public override long Length => bytes.Length;

        public override void Dispose()
        {
            if (_handle.IsAllocated) _handle.Free();
        }
    }
}

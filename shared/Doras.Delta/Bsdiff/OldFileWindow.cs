using Doras.Delta.Algorithms;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads a region of the old file through one buffer, a match at a time: each read takes as much of the current
/// match as the buffer holds (bsdiff's matches jump around the old version, so reading further ahead was measured
/// to read the esbuild version 80 times over), and the runs of a match are then served from memory instead of one
/// read (and, asynchronously, one thread-pool hop) each. Reads are synchronous: the old version is a local file.
/// </summary>
internal sealed class OldFileWindow(SafeFileHandle file, long start, long size, int capacity = OldFileWindow.DefaultCapacity)
{
    public const int DefaultCapacity = 256 << 10;

    private readonly byte[] _buffer = new byte[capacity];
    private long _from;
    private int _count;

    /// <summary>
    /// The old bytes at <paramref name="position"/> (from the region's start): at least one and at most
    /// <paramref name="max"/>; fewer when the buffer ends first. <paramref name="contiguous"/> is how many bytes from
    /// here the caller will read in order (the rest of its match): a refill reads no further. Valid until the next call.
    /// </summary>
    public ReadOnlyMemory<byte> At(long position, int max, long contiguous)
    {
        if (position < _from || position >= _from + _count) Fill(position, contiguous);
        var offset = (int)(position - _from);
        return _buffer.AsMemory(offset, Math.Min(max, _count - offset));
    }

    private void Fill(long position, long contiguous)
    {
        if (position < 0 || position >= size) throw new CorruptDeltaException("the old file ended early while applying a bsdiff delta");
        _from = position;
        _count = RandomAccess.Read(file, _buffer.AsSpan(0, (int)Math.Min(Math.Min(_buffer.Length, size - position), Math.Max(1, contiguous))), start + position);
        if (_count == 0) throw new CorruptDeltaException("the old file ended early while applying a bsdiff delta");
    }
}

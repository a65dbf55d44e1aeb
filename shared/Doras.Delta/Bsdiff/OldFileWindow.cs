using Doras.Delta.Algorithms;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads a region of the old file through one buffer, a match at a time: each read takes as much of the current
/// match as the buffer holds (bsdiff's matches jump around the old version, so reading further ahead was measured
/// to read the esbuild version 80 times over), and the runs of a match are then served from memory instead of one
/// read (and, asynchronously, one thread-pool hop) each. Reads are synchronous: the old version is a local file.
/// Each read also takes <see cref="Margin"/> bytes on either side of what the match asks for, so a prediction
/// (<see cref="IMatchPrediction"/>), which looks a few bytes around each match, is served from the same read
/// through <see cref="Read"/>: biome's 321,491 matches of a few dozen bytes each cost one read each instead of two.
/// </summary>
internal sealed class OldFileWindow(SafeFileHandle file, long start, long size, int capacity = OldFileWindow.DefaultCapacity)
{
    public const int DefaultCapacity = 256 << 10;

    /// <summary>Bytes read on either side of a match: at least what a prediction reads around one (a reference's width).</summary>
    public const int Margin = 16;

    private readonly byte[] _buffer = new byte[capacity + 2 * Margin];
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

    /// <summary>
    /// An <see cref="OldBytesReader"/> over the region: fills <paramref name="into"/> from <paramref name="position"/>
    /// (fewer bytes only at the region's end), from the buffer as far as it holds them, else from the file. The
    /// buffer is left as it is, so the caller's next <see cref="At"/> still finds its match there.
    /// </summary>
    public int Read(long position, Span<byte> into)
    {
        if (position < 0 || position >= size) return 0;
        into = into[..(int)Math.Min(into.Length, size - position)];
        var copied = 0;
        if (position >= _from && position < _from + _count)
        {
            copied = Math.Min(into.Length, (int)(_from + _count - position));
            _buffer.AsSpan((int)(position - _from), copied).CopyTo(into);
        }
        while (copied < into.Length)
        {
            var n = RandomAccess.Read(file, into[copied..], start + position + copied);
            if (n == 0) break;
            copied += n;
        }
        return copied;
    }

    private void Fill(long position, long contiguous)
    {
        if (position < 0 || position >= size) throw new CorruptDeltaException("the old file ended early while applying a bsdiff delta");
        var before = (int)Math.Min(Margin, position);
        _from = position - before;
        var wanted = before + Math.Min(capacity, Math.Max(1, contiguous)) + Margin;
        _count = RandomAccess.Read(file, _buffer.AsSpan(0, (int)Math.Min(wanted, size - _from)), start + _from);
        if (_count <= before) throw new CorruptDeltaException("the old file ended early while applying a bsdiff delta");
    }
}

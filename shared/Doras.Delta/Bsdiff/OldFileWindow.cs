using System.Numerics;
using Doras.Delta.Algorithms;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads a region of the old file through a cache of small blocks, a match at a time: a miss reads the blocks of as
/// much of the current match as the cache holds, and the runs of a match are then served from memory instead of one
/// read (and, asynchronously, one thread-pool hop) each. bsdiff's matches jump around the old version, so reading
/// further ahead than the match was measured to read the esbuild version 80 times over; but they often come back to
/// bytes a recent match read: biome's 321,491 matches of a few dozen bytes each took 318,119 reads through one
/// window and take about 251,000 through the blocks, reading about as many bytes. The cache is direct-mapped (a
/// block has one slot), so a lookup is one comparison. Reads are synchronous: the old version is a local file.
/// Each miss also reads <see cref="Margin"/> bytes on either side of what the match asks for, so a prediction
/// (<see cref="IMatchPrediction"/>), which looks a few bytes around each match, is served from the same read
/// through <see cref="Read"/>.
/// </summary>
internal sealed class OldFileWindow
{
    public const int DefaultCapacity = 256 << 10;

    /// <summary>Bytes read on either side of a match: at least what a prediction reads around one (a reference's width).</summary>
    public const int Margin = 16;

    /// <summary>Blocks of 128 bytes: larger ones read more bytes per miss than the misses they save (measured on biome).</summary>
    private const int BlockShift = 7;
    private const int BlockBytes = 1 << BlockShift;

    private readonly SafeFileHandle _file;
    private readonly long _start;
    private readonly long _size;
    private readonly byte[] _cache;
    /// <summary>The block of the region each slot holds (block b lives in slot b mod the slots), -1 for none.</summary>
    private readonly long[] _blocks;
    private readonly long _slotMask;

    public OldFileWindow(SafeFileHandle file, long start, long size, int capacity = DefaultCapacity)
    {
        (_file, _start, _size) = (file, start, size);
        // A power of two of slots, no more than the region needs (tardiff opens one window per member).
        var slots = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp((size + BlockBytes - 1) >> BlockShift, 1, Math.Max(1, capacity >> BlockShift)));
        _cache = new byte[slots << BlockShift];
        _blocks = new long[slots];
        Array.Fill(_blocks, -1);
        _slotMask = slots - 1;
    }

    /// <summary>
    /// The old bytes at <paramref name="position"/> (from the region's start): at least one and at most
    /// <paramref name="max"/>; fewer when the cached blocks end first. <paramref name="contiguous"/> is how many bytes
    /// from here the caller will read in order (the rest of its match): a miss reads no further. Valid until the next call.
    /// </summary>
    public ReadOnlyMemory<byte> At(long position, int max, long contiguous)
    {
        if (position < 0 || position >= _size) throw EndedEarly();
        if (!IsCached(position)) Fill(position, contiguous);
        return Cached(position, max);
    }

    private bool IsCached(long position) => _blocks[(position >> BlockShift) & _slotMask] == position >> BlockShift;

    /// <summary>Up to <paramref name="max"/> bytes from <paramref name="position"/>, whose block is cached: as far as the blocks after it in the cache follow it.</summary>
    private ReadOnlyMemory<byte> Cached(long position, int max)
    {
        var block = position >> BlockShift;
        var slot = (int)(block & _slotMask);
        var offset = (slot << BlockShift) + (int)(position & (BlockBytes - 1));
        var wanted = offset + Math.Min(max, _size - position);
        // The run of cached blocks that follow in the cache (a miss reads them so).
        var end = (slot + 1) << BlockShift;
        while (end < wanted && slot + 1 < _blocks.Length && _blocks[slot + 1] == block + 1) (slot, block, end) = (slot + 1, block + 1, end + BlockBytes);
        return _cache.AsMemory(offset, (int)Math.Min(end, wanted) - offset);
    }

    /// <summary>
    /// An <see cref="OldBytesReader"/> over the region: fills <paramref name="into"/> from <paramref name="position"/>
    /// (fewer bytes only at the region's end), from the cache as far as it holds them, else from the file. The
    /// cache is left as it is, so the caller's next <see cref="At"/> still finds its match there.
    /// </summary>
    public int Read(long position, Span<byte> into)
    {
        if (position < 0 || position >= _size) return 0;
        into = into[..(int)Math.Min(into.Length, _size - position)];
        var copied = 0;
        while (copied < into.Length && IsCached(position + copied))
        {
            var cached = Cached(position + copied, into.Length - copied);
            cached.Span.CopyTo(into[copied..]);
            copied += cached.Length;
        }
        while (copied < into.Length)
        {
            var n = RandomAccess.Read(_file, into[copied..], _start + position + copied);
            if (n == 0) break;
            copied += n;
        }
        return copied;
    }

    /// <summary>Reads the missing blocks of [position - margin, position + contiguous + margin), as many as the cache holds.</summary>
    private void Fill(long position, long contiguous)
    {
        var first = Math.Max(0, position - Margin) >> BlockShift;
        var end = Math.Min(_size, position + Math.Max(1, contiguous) + Margin);
        var last = Math.Min((end - 1) >> BlockShift, first + _slotMask);
        // Blocks at either end that are cached already stay; the position's own block is missing, so it is read.
        while (_blocks[first & _slotMask] == first) first++;
        while (_blocks[last & _slotMask] == last) last--;
        while (first <= last)
        {
            var slot = (int)(first & _slotMask);
            var count = (int)Math.Min(last - first + 1, _blocks.Length - slot); // one read up to the cache's end
            var from = first << BlockShift;
            var into = _cache.AsSpan(slot << BlockShift, (int)Math.Min((long)count << BlockShift, _size - from));
            _blocks.AsSpan(slot, count).Fill(-1); // a read that fails leaves no slot claiming bytes it does not hold
            for (var read = 0; read < into.Length;)
            {
                var n = RandomAccess.Read(_file, into[read..], _start + from + read);
                if (n == 0) throw EndedEarly();
                read += n;
            }
            for (var i = 0; i < count; i++) _blocks[slot + i] = first + i;
            first += count;
        }
    }

    private static CorruptDeltaException EndedEarly() => new("the old file ended early while applying a bsdiff delta");
}

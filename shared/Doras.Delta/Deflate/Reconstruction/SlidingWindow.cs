namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// Inflated bytes by absolute position: from some point behind (at least the 32 KiB a match can reach back, kept
/// by the owner's <see cref="Discard"/> calls) up to <see cref="End"/>. The decoder appends to it, the predictor
/// reads it; it grows only as far as the bytes not yet discarded need.
/// </summary>
internal sealed class SlidingWindow
{
    private byte[] _data = new byte[1 << 17];
    private int _start; // index of Base in _data
    private int _count;

    /// <summary>The array and the index in it of <see cref="Base"/>: position p is at <c>Data[Offset + p - Base]</c>.</summary>
    public byte[] Data => _data;
    public long Base { get; private set; }
    public int Offset => _start;
    public long End => Base + _count;

    public byte this[long position] => _data[_start + (int)(position - Base)];

    /// <summary>Makes room for <paramref name="more"/> bytes after <see cref="End"/> (compacting or growing).</summary>
    public void Reserve(int more)
    {
        if (_start + _count + more <= _data.Length) return;
        if (_count + more > _data.Length / 2) Array.Resize(ref _data, Math.Max(_data.Length * 2, _count + more + (1 << 16)));
        Array.Copy(_data, _start, _data, 0, _count);
        _start = 0;
    }

    public void Append(byte value)
    {
        Reserve(1);
        _data[_start + _count++] = value;
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_data.AsSpan(_start + _count));
        _count += bytes.Length;
    }

    /// <summary>Copies a match: <paramref name="length"/> bytes from <paramref name="distance"/> back (the caller checked the distance).</summary>
    public void CopyMatch(int distance, int length)
    {
        Reserve(length);
        var to = _start + _count;
        var from = to - distance;
        for (var i = 0; i < length; i++) _data[to + i] = _data[from + i];
        _count += length;
    }

    /// <summary>Lets go of the bytes before <paramref name="position"/> (the space is reused on the next compaction).</summary>
    public void Discard(long position)
    {
        if (position <= Base) return;
        var drop = (int)Math.Min(position - Base, _count);
        _start += drop;
        _count -= drop;
        Base += drop;
    }

    /// <summary>Reads from <paramref name="input"/> until <see cref="End"/> reaches <paramref name="upTo"/>; false when the input ended first.</summary>
    public bool Fill(Stream input, long upTo)
    {
        while (End < upTo)
        {
            var want = (int)Math.Min(Math.Max(upTo - End, 1 << 16), 1 << 20);
            Reserve(want);
            var n = input.Read(_data, _start + _count, want);
            if (n == 0) return false;
            _count += n;
        }
        return true;
    }

    public ReadOnlySpan<byte> Span(long from, int length) => _data.AsSpan(_start + (int)(from - Base), length);
}

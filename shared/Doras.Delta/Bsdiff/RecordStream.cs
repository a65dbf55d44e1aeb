using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// A bsdiff record stream, buffered (as <see cref="BufferedStream"/>), whose varints are decoded straight from the
/// buffer: biome's control part holds millions, and a virtual <see cref="Stream.ReadByte"/> per byte of each cost
/// the device's apply more than decoding them. Near the buffer's end a varint is read a byte at a time.
/// </summary>
internal sealed class RecordStream(Stream inner) : Doras.Oci.Content.ReadOnlyStream
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;

    /// <summary>Reads a varint as <see cref="Varint.Read(Stream, bool, string)"/> does.</summary>
    public ulong? ReadVarint(bool endAllowed, string what)
    {
        if (_end - _start < Varint.MaxBytes) return Varint.Read(this, endAllowed, what);
        var value = Varint.Read(_buffer.AsSpan(_start, Varint.MaxBytes), what, out var used);
        _start += used;
        return value;
    }

    public override int ReadByte() => _start < _end || Refill() ? _buffer[_start++] : -1;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        if (_start == _end)
        {
            if (buffer.Length >= _buffer.Length) return inner.Read(buffer); // a long run of bytes skips the buffer
            if (!Refill()) return 0;
        }
        var n = Math.Min(buffer.Length, _end - _start);
        _buffer.AsSpan(_start, n).CopyTo(buffer);
        _start += n;
        return n;
    }

    /// <summary>Reads synchronously, as the records always were: the parts are local files or decoders over them.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    private bool Refill()
    {
        (_start, _end) = (0, inner.Read(_buffer));
        return _end > 0;
    }
}

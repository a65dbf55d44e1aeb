using System.Security.Cryptography;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// Buffered reading of a stream byte by byte, able to give back the last few bytes read (a deflate decoder reads
/// ahead up to two bytes past its stream's end) and to hash exactly the bytes consumed (the analyzer compares its
/// rebuilt output with that hash).
/// </summary>
internal sealed class ByteSource(Stream input)
{
    private const int Keep = 8; // bytes kept on a refill so they can be given back
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _position, _end, _hashed;
    private long _bufferStart; // stream offset of _buffer[0]

    /// <summary>Bytes consumed so far.</summary>
    public long Position => _bufferStart + _position;

    /// <summary>The next byte, or -1 at the end of the stream.</summary>
    public int ReadByte()
    {
        if (_position == _end && !Refill()) return -1;
        return _buffer[_position++];
    }

    /// <summary>Reads exactly <paramref name="bytes"/>.Length bytes, or throws <see cref="InvalidDataException"/> with <paramref name="truncated"/>.</summary>
    public void ReadExactly(Span<byte> bytes, string truncated)
    {
        for (var i = 0; i < bytes.Length; i++)
            bytes[i] = ReadByte() is var b and >= 0 ? (byte)b : throw new InvalidDataException(truncated);
    }

    /// <summary>Gives back the last <paramref name="count"/> bytes read (at most 8, none of them hashed yet).</summary>
    public void Unread(int count)
    {
        if (count > _position - _hashed) throw new InvalidOperationException("cannot give back bytes already hashed");
        _position -= count;
    }

    /// <summary>Whether the stream has ended (no byte follows).</summary>
    public bool AtEnd => _position == _end && !Refill();

    /// <summary>The SHA-256 of every byte consumed so far (it must be called once, at the end).</summary>
    public byte[] Hash()
    {
        _hash.AppendData(_buffer, _hashed, _position - _hashed);
        _hashed = _position;
        return _hash.GetHashAndReset();
    }

    private bool Refill()
    {
        // Hash all but the last Keep bytes, keep those at the front so they can still be given back.
        var keepFrom = Math.Max(_hashed, _position - Keep);
        _hash.AppendData(_buffer, _hashed, keepFrom - _hashed);
        var kept = _position - keepFrom;
        Array.Copy(_buffer, keepFrom, _buffer, 0, kept);
        _bufferStart += keepFrom;
        (_position, _end, _hashed) = (kept, kept, 0);
        var n = input.Read(_buffer, kept, _buffer.Length - kept);
        _end += n;
        return n > 0;
    }
}

/// <summary>Reads bits lowest first (RFC 1951 3.1.1), fetching bytes only as needed; ending inside the stream is an error.</summary>
internal sealed class BitReader(ByteSource source)
{
    private ulong _bits;
    private int _count;  // bits in _bits
    private int _missing; // zero bits added past the end of the input, so that Peek can look ahead

    /// <summary>The next <paramref name="n"/> bits (n ≤ 24) without consuming them; past the end they read as zeros.</summary>
    public int Peek(int n)
    {
        while (_count < n)
        {
            var b = source.ReadByte();
            if (b < 0) _missing += 8;
            _bits |= (ulong)(b < 0 ? 0 : b) << _count;
            _count += 8;
        }
        return (int)(_bits & ((1UL << n) - 1));
    }

    public void Skip(int n)
    {
        if (n > _count - _missing) throw new InvalidDataException("the deflate stream is truncated");
        _bits >>= n;
        _count -= n;
    }

    public int Read(int n)
    {
        var v = Peek(n);
        Skip(n);
        return v;
    }

    /// <summary>Bits left before the next byte boundary.</summary>
    public int ToByteBoundary => _count % 8;

    /// <summary>Reads the padding up to a byte boundary; returns its value.</summary>
    public int ReadPadding() => Read(ToByteBoundary);

    /// <summary>After a byte boundary: gives back the whole bytes looked ahead at, so the source is exactly after the stream.</summary>
    public void Release()
    {
        if (_count % 8 != 0) throw new InvalidOperationException("not at a byte boundary");
        source.Unread((_count - _missing) / 8);
        (_bits, _count, _missing) = (0, 0, 0);
    }
}

/// <summary>Writes bits lowest first into a stream, buffered.</summary>
internal sealed class BitWriter(Stream output)
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;
    private ulong _bits;
    private int _count;

    public long BytesWritten { get; private set; }

    /// <summary>Writes the low <paramref name="n"/> bits of <paramref name="value"/> (n ≤ 24; higher bits are ignored).</summary>
    public void Write(int value, int n)
    {
        _bits |= ((ulong)(uint)value & ((1UL << n) - 1)) << _count;
        _count += n;
        while (_count >= 8)
        {
            if (_used == _buffer.Length) FlushBuffer();
            _buffer[_used++] = (byte)_bits;
            _bits >>= 8;
            _count -= 8;
        }
    }

    /// <summary>Bits left before the next byte boundary.</summary>
    public int ToByteBoundary => (8 - _count) & 7;

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        if (_count != 0) throw new InvalidOperationException("not at a byte boundary");
        foreach (var b in bytes)
        {
            if (_used == _buffer.Length) FlushBuffer();
            _buffer[_used++] = b;
        }
    }

    public void Flush()
    {
        if (_count != 0) throw new InvalidOperationException("not at a byte boundary");
        FlushBuffer();
    }

    private void FlushBuffer()
    {
        output.Write(_buffer, 0, _used);
        BytesWritten += _used;
        _used = 0;
    }
}

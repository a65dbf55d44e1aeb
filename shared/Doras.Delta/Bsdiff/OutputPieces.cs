using System.Buffers;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Where the apply builds each piece of the new version: straight in the output's own buffer when it lends one
/// (<see cref="IBufferWriter{T}"/>, as the device's digesting output file does), so the old bytes are copied once, to
/// where they are predicted and their differences added; else in a buffer of its own, written to the output after.
/// </summary>
internal sealed class OutputPieces(Stream output)
{
    private const int MaxPieceBytes = 1 << 16;

    private readonly IBufferWriter<byte>? _lender = output as IBufferWriter<byte>;
    private readonly byte[]? _own = output is IBufferWriter<byte> ? null : new byte[MaxPieceBytes];

    /// <summary>Room for the next piece: at least a byte, at most 64 KiB; valid until <see cref="Commit"/>.</summary>
    public Span<byte> Next()
    {
        var room = _lender is not null ? _lender.GetSpan() : _own;
        return room.Length > MaxPieceBytes ? room[..MaxPieceBytes] : room;
    }

    /// <summary>Outputs the first <paramref name="count"/> bytes of the room <see cref="Next"/> gave.</summary>
    public void Commit(int count)
    {
        if (_lender is not null) _lender.Advance(count);
        else output.Write(_own!, 0, count);
    }
}

namespace Doras.Delta.Algorithms;

/// <summary>LEB128 unsigned varints (7 bits per byte, low bits first), as the record streams of our deltas use them.</summary>
internal static class Varint
{
    public static void Write(Stream output, ulong value)
    {
        Span<byte> bytes = stackalloc byte[10];
        var i = 0;
        for (; value >= 0x80; value >>= 7) bytes[i++] = (byte)(value | 0x80);
        bytes[i++] = (byte)value;
        output.Write(bytes[..i]);
    }

    public static void Write(Stream output, long value) => Write(output, checked((ulong)value));

    /// <summary>
    /// Reads a varint; null at a clean end of the stream when <paramref name="endAllowed"/> (between records).
    /// <paramref name="what"/> names the delta in the error of a truncated or malformed one.
    /// </summary>
    public static ulong? Read(Stream input, bool endAllowed, string what)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = input.ReadByte();
            if (b < 0)
            {
                if (endAllowed && shift == 0) return null;
                throw new CorruptDeltaException($"{what} is truncated inside a record");
            }
            if (shift > 63) throw new CorruptDeltaException($"{what} has a malformed record");
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
    }

    /// <summary>Reads a varint that must be there and fit a non-negative long.</summary>
    public static long ReadLength(Stream input, string what)
    {
        var value = Read(input, endAllowed: false, what)!.Value;
        if (value > long.MaxValue) throw new CorruptDeltaException($"{what} has a length out of range");
        return (long)value;
    }
}

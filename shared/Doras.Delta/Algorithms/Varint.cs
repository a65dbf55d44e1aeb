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

    /// <summary>The most bytes a varint of 64 bits takes.</summary>
    public const int MaxBytes = 10;

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
            if (Add(ref value, shift, b, what)) return value;
        }
    }

    /// <summary>
    /// Reads the varint that starts <paramref name="bytes"/>, which hold at least <see cref="MaxBytes"/> (so a varint
    /// ends in them, or is malformed); <paramref name="used"/> is how many it took.
    /// </summary>
    public static ulong Read(ReadOnlySpan<byte> bytes, string what, out int used)
    {
        ulong value = 0;
        for (used = 0; ; used++)
        {
            CheckShift(7 * used, what); // before the byte is read: there are only MaxBytes
            if (Add(ref value, 7 * used, bytes[used], what)) { used++; return value; }
        }
    }

    /// <summary>Adds byte <paramref name="b"/> of a varint at <paramref name="shift"/>; true when it is the last.</summary>
    private static bool Add(ref ulong value, int shift, int b, string what)
    {
        CheckShift(shift, what);
        value |= (ulong)(b & 0x7F) << shift;
        return (b & 0x80) == 0;
    }

    private static void CheckShift(int shift, string what)
    {
        if (shift > 63) throw new CorruptDeltaException($"{what} has a malformed record");
    }

    /// <summary>Reads a varint that must be there and fit a non-negative long.</summary>
    public static long ReadLength(Stream input, string what)
    {
        var value = Read(input, endAllowed: false, what)!.Value;
        if (value > long.MaxValue) throw new CorruptDeltaException($"{what} has a length out of range");
        return (long)value;
    }
}

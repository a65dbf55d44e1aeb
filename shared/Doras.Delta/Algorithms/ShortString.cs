using System.Text;

namespace Doras.Delta.Algorithms;

/// <summary>An ASCII string of at most 255 bytes, its length in one byte first: names and digests in our delta formats.</summary>
internal static class ShortString
{
    public static void Write(Stream output, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        output.WriteByte(checked((byte)bytes.Length));
        output.Write(bytes);
    }

    /// <summary>Reads one; an input that ends inside it is a <see cref="CorruptDeltaException"/> saying <paramref name="truncated"/>.</summary>
    public static string Read(Stream input, string truncated)
    {
        var length = input.ReadByte();
        if (length < 0) throw new CorruptDeltaException(truncated);
        var bytes = new byte[length];
        try { input.ReadExactly(bytes); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException(truncated, e); }
        return Encoding.ASCII.GetString(bytes);
    }
}

using Doras.Delta.Algorithms;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// Reads a recipe's fields; every malformed or truncated field, and any value outside what the writer can
/// produce, is a <see cref="CorruptDeltaException"/> naming the recipe.
/// </summary>
internal sealed class RecipeReader(Stream input)
{
    public const string What = "deflate recipe";

    public byte Byte() => input.ReadByte() is var b and >= 0 ? (byte)b : throw Corrupt("is truncated");

    /// <summary>A varint no greater than <paramref name="max"/>.</summary>
    public long Varint(long max, string field)
    {
        var value = Algorithms.Varint.Read(input, endAllowed: false, What)!.Value;
        return value <= (ulong)max ? (long)value : throw Corrupt($"has {field} {value}, over the limit of {max}");
    }

    public void Bytes(Span<byte> bytes)
    {
        try { input.ReadExactly(bytes); }
        catch (EndOfStreamException) { throw Corrupt("is truncated"); }
    }

    /// <summary>Whether the input has ended here (nothing more to read).</summary>
    public bool AtEnd() => input.ReadByte() < 0;

    public static CorruptDeltaException Corrupt(string problem) => new($"the {What} {problem}");
}

/// <summary>Writes a recipe's fields (the counterpart of <see cref="RecipeReader"/>).</summary>
internal sealed class RecipeWriter(Stream output)
{
    public void Byte(int value) => output.WriteByte(checked((byte)value));
    public void Varint(long value) => Algorithms.Varint.Write(output, value);
    public void Bytes(ReadOnlySpan<byte> bytes) => output.Write(bytes);
}

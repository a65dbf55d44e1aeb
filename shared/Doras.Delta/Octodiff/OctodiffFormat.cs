namespace Doras.Delta.Octodiff;

/// <summary>
/// Constants of Octodiff's signature and delta files (little-endian integers, strings with a 7-bit length
/// prefix, as .NET's BinaryWriter writes them), so that our files and Octodiff's are interchangeable.
/// </summary>
internal static class OctodiffFormat
{
    public static ReadOnlySpan<byte> SignatureMagic => "OCTOSIG"u8;
    public static ReadOnlySpan<byte> DeltaMagic => "OCTODELTA"u8;
    public static ReadOnlySpan<byte> EndOfHeader => ">>>"u8;
    public const byte Version = 1;
    public const string HashName = "SHA1";
    public const int HashLength = 20;
    public const string RollingName = "Adler32";
    public const byte CopyCommand = 0x60;
    public const byte DataCommand = 0x80;
    public const int SignatureRecordLength = 2 + 4 + HashLength;

    public const int DefaultChunkSize = 2048;
    public const int MinChunkSize = 128;
    public const int MaxChunkSize = 31 * 1024;

    /// <summary>
    /// Reads an exact magic, or throws <see cref="InvalidDataException"/> naming what was expected
    /// (<see cref="EndOfStreamException"/> if the input ends inside what could still be it).
    /// </summary>
    public static void Expect(BinaryReader reader, ReadOnlySpan<byte> expected, string what)
    {
        Span<byte> actual = stackalloc byte[expected.Length];
        var got = reader.BaseStream.ReadAtLeast(actual, actual.Length, throwOnEndOfStream: false);
        if (got == actual.Length && actual.SequenceEqual(expected)) return;
        if (got < actual.Length && actual[..got].SequenceEqual(expected[..got])) throw new EndOfStreamException();
        throw new InvalidDataException($"not an Octodiff {what}: expected '{System.Text.Encoding.ASCII.GetString(expected)}'");
    }
}

/// <summary>
/// Octodiff's default rolling checksum ("Adler32"): Adler-like sums modulo 2^16 (not zlib's Adler-32),
/// a starting at 1, b the running sum of a; value (b &lt;&lt; 16) | a. Rolls by one byte in constant time.
/// </summary>
public struct RollingAdler32
{
    private ushort _a, _b;

    public static RollingAdler32 Of(ReadOnlySpan<byte> window)
    {
        ushort a = 1, b = 0;
        foreach (var x in window)
        {
            a = (ushort)(a + x);
            b = (ushort)(b + a);
        }
        return new RollingAdler32 { _a = a, _b = b };
    }

    public readonly uint Value => ((uint)_b << 16) | _a;

    /// <summary>Slides a window of <paramref name="length"/> bytes by one: <paramref name="removed"/> out, <paramref name="added"/> in.</summary>
    public void Roll(byte removed, byte added, int length)
    {
        _a = (ushort)(_a - removed + added);
        _b = (ushort)(_b - length * removed + _a - 1);
    }
}

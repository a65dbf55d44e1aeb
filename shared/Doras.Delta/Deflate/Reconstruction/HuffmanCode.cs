namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// A canonical Huffman code (RFC 1951 3.2.2) given by its code lengths: the bit-reversed codes to write and a
/// table to decode. The rules are zlib's inflate: an over-subscribed set is invalid, and an incomplete set is
/// invalid except one single code of length 1 in a literal/length or distance code; an empty distance code is
/// valid (a block without matches) and only fails when a distance is read.
/// </summary>
internal sealed class HuffmanCode
{
    public const int MaxBits = 15;
    private const int Invalid = -1;

    private readonly int[] _table; // indexed by the next MaxLength bits (first bit lowest): symbol << 4 | length, or Invalid
    /// <summary>The codes, bit-reversed so they can be written lowest bit first; their lengths.</summary>
    public ushort[] Codes { get; }
    public byte[] Lengths { get; }
    public int MaxLength { get; }

    private HuffmanCode(byte[] lengths, ushort[] codes, int[] table, int maxLength) => (Lengths, Codes, _table, MaxLength) = (lengths, codes, table, maxLength);

    /// <summary>
    /// Builds the code; <paramref name="what"/> names it in errors. <paramref name="codeLengthCode"/>: the code of
    /// the code lengths, which must be complete.
    /// </summary>
    public static HuffmanCode Build(ReadOnlySpan<byte> lengths, string what, bool codeLengthCode = false)
    {
        Span<int> count = stackalloc int[MaxBits + 1];
        var max = 0;
        foreach (var l in lengths)
        {
            if (l > MaxBits) throw new InvalidDataException($"invalid {what}: a code length over {MaxBits}");
            count[l]++;
            if (l > max) max = l;
        }
        if (max == 0 && codeLengthCode) throw new InvalidDataException($"invalid {what}: no codes");
        count[0] = 0;
        var left = 1;
        for (var len = 1; len <= MaxBits; len++)
        {
            left = (left << 1) - count[len];
            if (left < 0) throw new InvalidDataException($"invalid {what}: over-subscribed");
        }
        if (left > 0 && max > 0 && (codeLengthCode || max != 1)) throw new InvalidDataException($"invalid {what}: incomplete");

        Span<int> next = stackalloc int[MaxBits + 2];
        for (int len = 1, code = 0; len <= MaxBits; len++)
        {
            code = (code + count[len - 1]) << 1;
            next[len] = code;
        }
        var codes = new ushort[lengths.Length];
        var tableBits = Math.Max(max, 1);
        var table = new int[1 << tableBits];
        Array.Fill(table, Invalid);
        for (var symbol = 0; symbol < lengths.Length; symbol++)
        {
            int len = lengths[symbol];
            if (len == 0) continue;
            var reversed = Reverse(next[len]++, len);
            codes[symbol] = (ushort)reversed;
            for (var fill = reversed; fill < table.Length; fill += 1 << len) table[fill] = symbol << 4 | len;
        }
        return new HuffmanCode(lengths.ToArray(), codes, table, tableBits);
    }

    private static int Reverse(int code, int length)
    {
        var r = 0;
        for (var i = 0; i < length; i++, code >>= 1) r = r << 1 | (code & 1);
        return r;
    }

    /// <summary>Reads one symbol; <paramref name="what"/> names the code in the error for a bit pattern with no symbol.</summary>
    public int Decode(BitReader reader, string what)
    {
        var entry = _table[reader.Peek(MaxLength)];
        if (entry == Invalid) throw new InvalidDataException($"invalid {what} code");
        reader.Skip(entry & 15);
        return entry >> 4;
    }

    public static readonly HuffmanCode FixedLiterals = Build(DeflateSymbols.FixedLiteralLengths, "fixed literal/length");
    public static readonly HuffmanCode FixedDistances = Build(DeflateSymbols.FixedDistanceLengths, "fixed distance");
}

using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The header of a dynamic block exactly as written (RFC 1951 3.2.7): the counts HLIT, HDIST, HCLEN, the code
/// lengths of the code-length code in their sending order, and the run-length coded sequence of code lengths
/// (symbols 0..18 with their extra bits). Two encoders can write different headers for the same code lengths,
/// so all of it is kept, not only the lengths.
/// </summary>
internal sealed class DynamicHeader
{
    public int LiteralCount { get; init; }   // 257..286
    public int DistanceCount { get; init; }  // 1..30
    public int CodeLengthCount { get; init; } // 4..19
    /// <summary>Code lengths of the code-length code, by sending rank (the first <see cref="CodeLengthCount"/> count).</summary>
    public byte[] CodeLengthLengths { get; init; } = new byte[19];
    /// <summary>Code-length symbols (0..18) and the value of their extra bits, in order.</summary>
    public List<(byte Symbol, byte Extra)> Runs { get; init; } = [];

    /// <summary>The literal/length and distance code lengths the runs spell, checked as zlib's inflate checks them.</summary>
    public (byte[] Literals, byte[] Distances) Expand()
    {
        if (LiteralCount is < 257 or > 286 || DistanceCount is < 1 or > 30 || CodeLengthCount is < 4 or > 19)
            throw new InvalidDataException("too many length or distance symbols");
        var lengths = new byte[LiteralCount + DistanceCount];
        var n = 0;
        foreach (var (symbol, extra) in Runs)
        {
            if (symbol > 18) throw new InvalidDataException("invalid code length symbol");
            int repeat, value;
            if (symbol < 16) (repeat, value) = (1, symbol);
            else if (symbol == 16)
            {
                if (n == 0) throw new InvalidDataException("invalid bit length repeat");
                (repeat, value) = (3 + extra, lengths[n - 1]);
                if (extra > 3) throw new InvalidDataException("invalid bit length repeat");
            }
            else if (symbol == 17) (repeat, value) = (3 + extra, 0);
            else (repeat, value) = (11 + extra, 0);
            if ((symbol == 17 && extra > 7) || (symbol == 18 && extra > 127) || n + repeat > lengths.Length)
                throw new InvalidDataException("invalid bit length repeat");
            lengths.AsSpan(n, repeat).Fill((byte)value);
            n += repeat;
        }
        if (n != lengths.Length) throw new InvalidDataException("the code lengths do not fill the header's counts");
        if (lengths[EndOfBlock] == 0) throw new InvalidDataException("invalid code -- missing end-of-block");
        return (lengths[..LiteralCount], lengths[LiteralCount..]);
    }

    /// <summary>The code-length code by symbol, from the lengths by rank.</summary>
    public byte[] CodeLengthsBySymbol()
    {
        var bySymbol = new byte[19];
        for (var rank = 0; rank < CodeLengthCount; rank++) bySymbol[CodeLengthOrder[rank]] = CodeLengthLengths[rank];
        return bySymbol;
    }

    public static int ExtraBits(int symbol) => symbol switch { 16 => 2, 17 => 3, 18 => 7, _ => 0 };

    /// <summary>Reads a header, checking it fully (its codes are built by the caller from <see cref="Expand"/>).</summary>
    public static DynamicHeader Read(BitReader reader)
    {
        var (literalCount, distanceCount, codeLengthCount) = (reader.Read(5) + 257, reader.Read(5) + 1, reader.Read(4) + 4);
        if (literalCount > 286 || distanceCount > 30) throw new InvalidDataException("too many length or distance symbols");
        var ranks = new byte[19];
        for (var i = 0; i < codeLengthCount; i++) ranks[i] = (byte)reader.Read(3);
        var header = new DynamicHeader { LiteralCount = literalCount, DistanceCount = distanceCount, CodeLengthCount = codeLengthCount, CodeLengthLengths = ranks };
        var code = HuffmanCode.Build(header.CodeLengthsBySymbol(), "code lengths set", codeLengthCode: true);
        var total = literalCount + distanceCount;
        for (var n = 0; n < total;)
        {
            var symbol = code.Decode(reader, "code lengths");
            var extra = ExtraBits(symbol) is var bits and > 0 ? reader.Read(bits) : 0;
            header.Runs.Add(((byte)symbol, (byte)extra));
            n += symbol switch { < 16 => 1, 16 => 3 + extra, 17 => 3 + extra, _ => 11 + extra };
            if (symbol == 16 && header.Runs.Count == 1) throw new InvalidDataException("invalid bit length repeat");
            if (n > total) throw new InvalidDataException("invalid bit length repeat");
        }
        return header;
    }

    public void Write(BitWriter writer)
    {
        writer.Write(LiteralCount - 257, 5);
        writer.Write(DistanceCount - 1, 5);
        writer.Write(CodeLengthCount - 4, 4);
        for (var i = 0; i < CodeLengthCount; i++) writer.Write(CodeLengthLengths[i], 3);
        var code = HuffmanCode.Build(CodeLengthsBySymbol(), "code lengths set", codeLengthCode: true);
        foreach (var (symbol, extra) in Runs)
        {
            writer.Write(code.Codes[symbol], code.Lengths[symbol]);
            if (ExtraBits(symbol) is var bits and > 0) writer.Write(extra, bits);
        }
    }

    public bool SameAs(DynamicHeader other) =>
        LiteralCount == other.LiteralCount && DistanceCount == other.DistanceCount && CodeLengthCount == other.CodeLengthCount
        && CodeLengthLengths.AsSpan(0, CodeLengthCount).SequenceEqual(other.CodeLengthLengths.AsSpan(0, other.CodeLengthCount))
        && Runs.SequenceEqual(other.Runs);
}

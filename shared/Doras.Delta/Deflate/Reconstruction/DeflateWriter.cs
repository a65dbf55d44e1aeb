using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// Writes deflate blocks bit for bit as <see cref="DeflateBlock"/> describes them: the header bits, a stored block's
/// padding bits and LEN/NLEN, a dynamic block's header as recorded, each token with the block's codes, the end of
/// block, and after the final block the recorded padding of the last byte. Only the encoding is decided here;
/// whether the tokens are right is the caller's business.
/// </summary>
internal sealed class DeflateWriter(Stream output)
{
    private readonly BitWriter _writer = new(output);

    public long BytesWritten => _writer.BytesWritten;

    public void Write(DeflateBlock block, SlidingWindow window)
    {
        if (!block.Continuation)
        {
            _writer.Write(block.Final ? 1 : 0, 1);
            _writer.Write((int)block.Type, 2);
        }
        if (block.Type == BlockType.Stored)
        {
            _writer.Write(block.Padding, _writer.ToByteBoundary);
            _writer.Write((int)block.Length, 16);
            _writer.Write((int)block.Length ^ 0xFFFF, 16);
            _writer.WriteBytes(window.Span(block.Start, (int)block.Length));
        }
        else
        {
            HuffmanCode literals, distances;
            if (block.Type == BlockType.Fixed) (literals, distances) = (HuffmanCode.FixedLiterals, HuffmanCode.FixedDistances);
            else
            {
                block.Header!.Write(_writer);
                var (l, d) = block.Header.Expand();
                (literals, distances) = (HuffmanCode.Build(l, "literal/lengths set"), HuffmanCode.Build(d, "distances set"));
            }
            WriteTokens(block.Tokens.AsSpan(0, block.TokenCount), literals, distances);
            if (!block.Continued) Symbol(literals, EndOfBlock);
        }
        if (block.EndsStream)
        {
            _writer.Write(block.FinalPadding, _writer.ToByteBoundary);
            _writer.Flush();
        }
    }

    private void WriteTokens(ReadOnlySpan<int> tokens, HuffmanCode literals, HuffmanCode distances)
    {
        foreach (var token in tokens)
        {
            if (!Token.IsMatch(token))
            {
                Symbol(literals, token);
                continue;
            }
            var length = Token.Length(token);
            var code = (token & Token.Long258) != 0 ? 27 : LengthCode(length);
            Symbol(literals, 257 + code);
            if (LengthExtra[code] > 0) _writer.Write(length - LengthBase[code], LengthExtra[code]);
            var distance = Token.Distance(token);
            var distanceCode = DistanceCode(distance);
            Symbol(distances, distanceCode);
            if (DistanceExtra[distanceCode] > 0) _writer.Write(distance - DistanceBase[distanceCode], DistanceExtra[distanceCode]);
        }
    }

    private void Symbol(HuffmanCode code, int symbol)
    {
        var length = symbol < code.Lengths.Length ? code.Lengths[symbol] : 0;
        if (length == 0) throw new InvalidDataException($"symbol {symbol} has no code in the block's header");
        _writer.Write(code.Codes[symbol], length);
    }
}

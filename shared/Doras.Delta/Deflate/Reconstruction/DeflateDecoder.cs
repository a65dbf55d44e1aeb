using Doras.Delta.Artifacts;
using static Doras.Delta.Deflate.Reconstruction.DeflateSymbols;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// A strict raw deflate decoder (RFC 1951) that keeps the structure: block by block, the block's type, header and
/// tokens, its inflated bytes appended to a <see cref="SlidingWindow"/>. Invalid input (bad codes, over-subscribed
/// or incomplete codes, distances before the start, a reserved block type, a stored block whose NLEN is not the
/// complement of LEN, a truncated stream) is an <see cref="InvalidDataException"/>; a stream inflating past
/// <c>maxInflated</c> bytes, or a block over <see cref="DeflateLimits"/>, is an <see cref="IncompatibleArtifactException"/>
/// (valid, but more than we take on). After the final block the source is left exactly after the stream.
/// </summary>
internal sealed class DeflateDecoder(ByteSource source, SlidingWindow window, long maxInflated)
{
    private readonly BitReader _reader = new(source);
    private long _inflated;
    private bool _done;
    private DeflateBlock? _continuing; // a fixed block cut after a segment, to go on with

    /// <summary>Bytes inflated so far.</summary>
    public long Inflated => _inflated;

    /// <summary>The next block, or null after the final one. The window must hold the 32 KiB before its end.</summary>
    public DeflateBlock? Next()
    {
        if (_done) return null;
        DeflateBlock block;
        if (_continuing is { } previous)
        {
            block = new DeflateBlock { Start = _inflated, Final = previous.Final, Continuation = true };
            ReadCompressed(block, HuffmanCode.FixedLiterals, HuffmanCode.FixedDistances, BlockType.Fixed);
        }
        else
        {
            block = new DeflateBlock { Start = _inflated, Final = _reader.Read(1) == 1 };
            ReadBlock(block);
        }
        _continuing = block.Continued ? block : null;
        block.Length = _inflated - block.Start;
        if (block.EndsStream)
        {
            block.FinalPadding = _reader.ReadPadding();
            _reader.Release();
            _done = true;
        }
        return block;
    }

    private void ReadBlock(DeflateBlock block)
    {
        var type = _reader.Read(2);
        switch (type)
        {
            case 0: ReadStored(block); break;
            case 1: ReadCompressed(block, HuffmanCode.FixedLiterals, HuffmanCode.FixedDistances, BlockType.Fixed); break;
            case 2:
                var header = DynamicHeader.Read(_reader);
                var (literals, distances) = header.Expand();
                block.Header = header;
                ReadCompressed(block, HuffmanCode.Build(literals, "literal/lengths set"), HuffmanCode.Build(distances, "distances set"), BlockType.Dynamic);
                break;
            default: throw new InvalidDataException("invalid block type");
        }
    }

    private void ReadStored(DeflateBlock block)
    {
        block.Type = BlockType.Stored;
        block.Padding = _reader.ReadPadding();
        var length = _reader.Read(16);
        if ((_reader.Read(16) ^ 0xFFFF) != length) throw new InvalidDataException("invalid stored block lengths");
        Count(length);
        window.Reserve(length);
        for (var i = 0; i < length; i++) window.Append((byte)_reader.Read(8));
    }

    private void ReadCompressed(DeflateBlock block, HuffmanCode literals, HuffmanCode distances, BlockType type)
    {
        block.Type = type;
        var tokens = new List<int>(1024);
        long blockBytes = 0;
        while (true)
        {
            var symbol = literals.Decode(_reader, "literal/length");
            if (symbol < 256)
            {
                Count(1);
                window.Append((byte)symbol);
                tokens.Add(symbol);
                blockBytes++;
            }
            else if (symbol == EndOfBlock) break;
            else
            {
                var code = symbol - 257;
                if (code >= 29) throw new InvalidDataException("invalid literal/length code");
                var length = LengthBase[code] + _reader.Read(LengthExtra[code]);
                var distanceCode = distances.Decode(_reader, "distance");
                if (distanceCode >= 30) throw new InvalidDataException("invalid distance code");
                var distance = DistanceBase[distanceCode] + _reader.Read(DistanceExtra[distanceCode]);
                if (distance > _inflated) throw new InvalidDataException("invalid distance too far back");
                Count(length);
                window.CopyMatch(distance, length);
                tokens.Add(Token.Match(length, distance) | (code == 27 && length == 258 ? Token.Long258 : 0));
                blockBytes += length;
            }
            if (type == BlockType.Fixed && tokens.Count == DeflateLimits.SegmentTokens)
            {
                block.Continued = true;
                break;
            }
            if (tokens.Count > DeflateLimits.MaxBlockTokens)
                throw new IncompatibleArtifactException($"a deflate block has over {DeflateLimits.MaxBlockTokens} tokens, more than is rebuilt with bounded memory");
            if (blockBytes > DeflateLimits.MaxBlockBytes)
                throw new IncompatibleArtifactException($"a deflate block inflates to over {DeflateLimits.MaxBlockBytes} bytes, more than is rebuilt with bounded memory");
        }
        block.Tokens = [.. tokens];
        block.TokenCount = tokens.Count;
    }

    private void Count(int bytes)
    {
        _inflated += bytes;
        if (_inflated > maxInflated) throw new IncompatibleArtifactException($"the deflate stream inflates to more than the limit of {maxInflated} bytes");
    }
}

/// <summary>The bounds that keep both sides' memory small whatever the stream's size.</summary>
internal static class DeflateLimits
{
    /// <summary>Tokens in one block (zlib writes at most 16383, Go 16384): the device holds one block's tokens, 4 bytes each.</summary>
    public const int MaxBlockTokens = 1 << 20;
    /// <summary>Inflated bytes of one block (zlib's largest are about 4 MiB): the analyzer holds up to two blocks' bytes.</summary>
    public const long MaxBlockBytes = 32L << 20;
    /// <summary>Tokens of one segment of a fixed block (see <see cref="DeflateBlock.Continued"/>).</summary>
    public const int SegmentTokens = 1 << 16;
    /// <summary>Empty blocks in a row (flush markers come one at a time): a recipe may not spin on empty blocks.</summary>
    public const int MaxEmptyBlocksInARow = 64;
}

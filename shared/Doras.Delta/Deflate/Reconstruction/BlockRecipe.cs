using Doras.Delta.Artifacts;

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// One block's record in a recipe, and the two directions of it. The analyzer compares the block's real tokens
/// with the <see cref="MatchPredictor"/>'s and writes only the differences; the rebuilder runs the same
/// predictor and applies them. Layout: flags (type in bits 0-1, final bit 2, header predicted bit 3); a stored
/// block's length (varint) and padding bits (byte); otherwise the token count (varint), a dynamic header that
/// neither the predictor's own header (<see cref="MatchPredictor.PredictHeader"/>: <see cref="ZlibTrees"/>, or
/// <see cref="KlauspostTrees"/> for the pgzip model; flag bit 3) nor <see cref="GoTrees"/> (flag bit 6) predicts, written as it is, the number of corrections (varint) and each
/// correction: tokens since the previous one (varint), a kind byte (<see cref="Correction"/>, plus
/// <see cref="Long258Flag"/>) and its length byte (length - 3) and/or its distance, as a varint of distance - 1
/// or, when the hash chain reaches it, of its rank among the chain's candidates (<see cref="MatchPredictor.RankOf"/>);
/// after the final block, the final padding bits (byte). Fixed blocks may come in segments (flags bits 4, 5). The predictor meets stored blocks' bytes too, taking its own tokens for them, so its
/// state stays in step with the encoder's.
/// </summary>
internal static class BlockRecipe
{
    private enum Correction : byte { Literal = 0, Length = 1, LengthAndDistance = 2, Distance = 3, LengthAndRank = 8, Rank = 9 }
    private const int Long258Flag = 4, FinalFlag = 4, PredictedHeaderFlag = 8, ContinuedFlag = 16, ContinuationFlag = 32, GoHeaderFlag = 64;

    private static int Flags(DeflateBlock block, int header) =>
        (int)block.Type | (block.Final ? FinalFlag : 0) | header | (block.Continued ? ContinuedFlag : 0) | (block.Continuation ? ContinuationFlag : 0);

    /// <summary>Which predictor gives the block's dynamic header: zlib's, Go's, or none (0: stored as written).</summary>
    private static int HeaderPrediction(DeflateBlock block, ReadOnlySpan<int> tokens, MatchPredictor predictor)
    {
        if (block.Type != BlockType.Dynamic) return 0;
        if (predictor.PredictHeader(tokens, block.Start).SameAs(block.Header!)) return PredictedHeaderFlag;
        try { return GoTrees.Predict(tokens).SameAs(block.Header!) ? GoHeaderFlag : 0; }
        catch (InvalidDataException) { return 0; }
    }

    /// <summary>
    /// Writes the block's record (to <paramref name="writer"/>, or only measures when it is null). Returns the bytes
    /// of its corrections (before compression), with a header not predicted counted as 50.
    /// </summary>
    public static long Analyze(DeflateBlock block, MatchPredictor predictor, RecipeWriter? writer)
    {
        var end = block.Start + block.Length;
        if (block.Type == BlockType.Stored)
        {
            writer?.Byte(Flags(block, 0));
            writer?.Varint(block.Length);
            writer?.Byte(block.Padding);
            Skip(predictor, end);
            if (block.EndsStream) writer?.Byte(block.FinalPadding);
            return 0;
        }
        long cost = 0;
        var tokens = block.Tokens.AsSpan(0, block.TokenCount);
        var header = HeaderPrediction(block, tokens, predictor);
        var predicted = header != 0;
        if (block.Type == BlockType.Dynamic && !predicted) cost += 50;
        writer?.Byte(Flags(block, header));
        writer?.Varint(tokens.Length);
        if (writer is not null && block.Type == BlockType.Dynamic && !predicted) WriteHeader(writer, block.Header!);

        // Corrections are coded as they are met: a rank depends on the predictor's state at that token.
        var corrections = new MemoryStream();
        var correctionWriter = new RecipeWriter(corrections);
        int count = 0, previous = 0;
        for (var i = 0; i < tokens.Length; i++)
        {
            var guess = predictor.Predict(long.MaxValue);
            if (guess != tokens[i])
            {
                count++;
                correctionWriter.Varint(i - previous);
                previous = i + 1;
                WriteCorrection(correctionWriter, guess, tokens[i], predictor);
            }
            predictor.Accept(tokens[i]);
        }
        cost += corrections.Length;
        if (writer is not null)
        {
            writer.Varint(count);
            writer.Bytes(corrections.GetBuffer().AsSpan(0, (int)corrections.Length));
            if (block.EndsStream) writer.Byte(block.FinalPadding);
        }
        return cost;
    }

    /// <summary>Lets the predictor run over bytes whose tokens are not written (a stored block).</summary>
    private static void Skip(MatchPredictor predictor, long end)
    {
        while (predictor.Position < end) predictor.Accept(predictor.Predict(end - predictor.Position));
    }

    private static void WriteCorrection(RecipeWriter writer, int guess, int actual, MatchPredictor predictor)
    {
        if (!Token.IsMatch(actual))
        {
            writer.Byte((int)Correction.Literal);
            return;
        }
        var flag = (actual & Token.Long258) != 0 ? Long258Flag : 0;
        var (length, distance) = (Token.Length(actual), Token.Distance(actual));
        var p = predictor.Position;
        if (Token.IsMatch(guess) && Token.Distance(guess) == distance)
        {
            writer.Byte((int)Correction.Length | flag);
            writer.Byte(length - 3);
        }
        else if (predictor.RankOf(p, length, distance) is var rank and >= 0)
        {
            var sameLength = Token.IsMatch(guess) && Token.Length(guess) == length;
            writer.Byte((int)(sameLength ? Correction.Rank : Correction.LengthAndRank) | flag);
            if (!sameLength) writer.Byte(length - 3);
            writer.Varint(rank);
        }
        else if (Token.IsMatch(guess) && Token.Length(guess) == length)
        {
            writer.Byte((int)Correction.Distance | flag);
            writer.Varint(distance - 1);
        }
        else
        {
            writer.Byte((int)Correction.LengthAndDistance | flag);
            writer.Byte(length - 3);
            writer.Varint(distance - 1);
        }
    }

    private static void WriteHeader(RecipeWriter writer, DynamicHeader header)
    {
        writer.Byte(header.LiteralCount - 257);
        writer.Byte(header.DistanceCount - 1);
        writer.Byte(header.CodeLengthCount - 4);
        writer.Bytes(header.CodeLengthLengths.AsSpan(0, header.CodeLengthCount));
        writer.Varint(header.Runs.Count);
        foreach (var (symbol, extra) in header.Runs)
        {
            writer.Byte(symbol);
            if (symbol >= 16) writer.Byte(extra);
        }
    }

    private static DynamicHeader ReadHeader(RecipeReader reader)
    {
        var (literals, distances, codeLengths) = (reader.Byte() + 257, reader.Byte() + 1, reader.Byte() + 4);
        if (codeLengths > 19) throw RecipeReader.Corrupt("has a dynamic header with too many code length codes");
        var ranks = new byte[19];
        reader.Bytes(ranks.AsSpan(0, codeLengths));
        var count = (int)reader.Varint(286 + 30, "a run count");
        var runs = new List<(byte, byte)>(count);
        for (var i = 0; i < count; i++)
        {
            var symbol = reader.Byte();
            runs.Add((symbol, symbol >= 16 ? reader.Byte() : (byte)0));
        }
        var header = new DynamicHeader { LiteralCount = literals, DistanceCount = distances, CodeLengthCount = codeLengths, CodeLengthLengths = ranks, Runs = runs };
        try
        {
            var (l, d) = header.Expand();
            HuffmanCode.Build(header.CodeLengthsBySymbol(), "code lengths set", codeLengthCode: true);
            HuffmanCode.Build(l, "literal/lengths set");
            HuffmanCode.Build(d, "distances set");
            if (ranks.AsSpan(0, codeLengths).IndexOfAnyInRange((byte)8, (byte)255) >= 0) throw new InvalidDataException("a code length code length over 7");
        }
        catch (InvalidDataException e) { throw RecipeReader.Corrupt($"has an invalid dynamic header: {e.Message}"); }
        return header;
    }

    /// <summary>
    /// Reads one block's record and rebuilds its tokens from the predictor and the corrections. The window must
    /// hold the predictor's lookahead (<paramref name="ensure"/> fills it and tells where the data ends).
    /// </summary>
    public static DeflateBlock Rebuild(RecipeReader reader, MatchPredictor predictor, Func<long, long> ensure, ref int[] tokenBuffer, bool continuing)
    {
        var flags = reader.Byte();
        if ((flags & ~127) != 0 || (flags & 3) == 3 || ((flags & (PredictedHeaderFlag | GoHeaderFlag)) != 0 && (flags & 3) != (int)BlockType.Dynamic)
            || (flags & (PredictedHeaderFlag | GoHeaderFlag)) == (PredictedHeaderFlag | GoHeaderFlag)
            || ((flags & (ContinuedFlag | ContinuationFlag)) != 0 && (flags & 3) != (int)BlockType.Fixed) || (continuing != ((flags & ContinuationFlag) != 0)))
            throw RecipeReader.Corrupt($"has invalid block flags {flags}");
        var block = new DeflateBlock
        {
            Type = (BlockType)(flags & 3), Final = (flags & FinalFlag) != 0, Start = predictor.Position,
            Continued = (flags & ContinuedFlag) != 0, Continuation = (flags & ContinuationFlag) != 0,
        };
        if (block.Type == BlockType.Stored)
        {
            block.Length = reader.Varint(ushort.MaxValue, "a stored block length");
            block.Padding = Padding(reader);
            var end = block.Start + block.Length;
            if (ensure(end + MatchPredictor.Lookahead) < end) throw RecipeReader.Corrupt("describes more data than the inflated stream has");
            while (predictor.Position < end)
            {
                ensure(predictor.DataEnd(predictor.Position));
                predictor.Accept(predictor.Predict(end - predictor.Position));
            }
        }
        else
        {
            var count = (int)reader.Varint(DeflateLimits.MaxBlockTokens, "a block token count");
            if (block.Type == BlockType.Dynamic)
                block.Header = (flags & (PredictedHeaderFlag | GoHeaderFlag)) != 0 ? null : ReadHeader(reader);
            var corrections = reader.Varint(count, "a correction count");
            var next = corrections > 0 ? (int)reader.Varint(count - 1, "a correction index") : -1;
            for (var i = 0; i < count; i++)
            {
                var p = predictor.Position;
                var end = ensure(predictor.DataEnd(p));
                if (p >= end) throw RecipeReader.Corrupt("describes more data than the inflated stream has");
                var token = predictor.Predict(long.MaxValue);
                if (i == next)
                {
                    token = ApplyCorrection(reader, token, p, end, predictor);
                    if (--corrections > 0) next = checked(i + 1 + (int)reader.Varint(count - i - 2, "a correction index"));
                }
                if (i == tokenBuffer.Length) Array.Resize(ref tokenBuffer, tokenBuffer.Length * 2); // grows with tokens rebuilt, not with a count read
                tokenBuffer[i] = token;
                predictor.Accept(token);
            }
            block.Tokens = tokenBuffer;
            block.TokenCount = count;
            if (block.Type == BlockType.Dynamic && block.Header is null)
            {
                try { block.Header = (flags & GoHeaderFlag) != 0 ? GoTrees.Predict(tokenBuffer.AsSpan(0, count)) : predictor.PredictHeader(tokenBuffer.AsSpan(0, count), block.Start); }
                catch (InvalidDataException e) { throw RecipeReader.Corrupt($"has tokens no header can be predicted for: {e.Message}"); }
            }
        }
        block.Length = predictor.Position - block.Start;
        if (block.Continued && block.TokenCount != DeflateLimits.SegmentTokens) throw RecipeReader.Corrupt("has a block segment of the wrong size");
        if (block.EndsStream) block.FinalPadding = Padding(reader);
        return block;
    }

    /// <summary>Padding bits: at most 7 of them.</summary>
    private static int Padding(RecipeReader reader)
    {
        var value = reader.Byte();
        return value < 128 ? value : throw RecipeReader.Corrupt($"has padding bits {value}, more than 7 bits");
    }

    private static int Ranked(RecipeReader reader, MatchPredictor predictor, long p, int length, long end)
    {
        var rank = (int)reader.Varint(256, "a distance rank");
        if (length > DeflateSymbols.MaxLength || p + length > end) throw RecipeReader.Corrupt("has a match that does not match the inflated data");
        var distance = predictor.DistanceOfRank(p, length, rank);
        return distance > 0 ? distance : throw RecipeReader.Corrupt("has a distance rank the hash chain does not reach");
    }

    private static int ApplyCorrection(RecipeReader reader, int guess, long p, long end, MatchPredictor predictor)
    {
        var kind = reader.Byte();
        var flag = kind & Long258Flag;
        int length, distance;
        switch ((Correction)(kind & ~Long258Flag))
        {
            case Correction.Literal when flag == 0: return predictor.ByteAt(p);
            case Correction.Length when Token.IsMatch(guess): (length, distance) = (reader.Byte() + 3, Token.Distance(guess)); break;
            case Correction.Distance when Token.IsMatch(guess): (length, distance) = (Token.Length(guess), (int)reader.Varint(DeflateSymbols.MaxDistance - 1, "a distance") + 1); break;
            case Correction.LengthAndDistance: (length, distance) = (reader.Byte() + 3, (int)reader.Varint(DeflateSymbols.MaxDistance - 1, "a distance") + 1); break;
            case Correction.LengthAndRank:
                length = reader.Byte() + 3;
                distance = Ranked(reader, predictor, p, length, end);
                break;
            case Correction.Rank when Token.IsMatch(guess):
                length = Token.Length(guess);
                distance = Ranked(reader, predictor, p, length, end);
                break;
            default: throw RecipeReader.Corrupt($"has an invalid correction kind {kind}");
        }
        if (length > DeflateSymbols.MaxLength || (flag != 0 && length != 258) || distance > p || p + length > end || !predictor.Matches(p, distance, length))
            throw RecipeReader.Corrupt("has a match that does not match the inflated data");
        return Token.Match(length, distance) | (flag != 0 ? Token.Long258 : 0);
    }
}

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// The tokens klauspost/pgzip writes (as containers/image uses it, at its default level, for buildah, podman and
/// skopeo layers), predicted from the inflated bytes alone. pgzip's rules:
/// <list type="bullet">
/// <item>The input is cut into blocks of 1 MiB, each compressed on its own by a klauspost/compress/flate writer
/// reset with the previous block's last 16 KiB as dictionary (encoded into its tables, its tokens dropped), then
/// flushed (a sync flush; the last block is also closed).</item>
/// <item>That writer encodes its input in chunks of 65535 bytes (<see cref="KlauspostLevel5Encoder"/>): a 1 MiB
/// block is 16 full chunks and 16 bytes. The chunk flushed at a block's end, when under 128 bytes, is not
/// searched at all (written stored or as literals) and resets the encoder.</item>
/// <item>A chunk whose tokens remove less than 1/16 of its bytes is written as literals only (Huffman only);
/// one without any token is stored.</item>
/// </list>
/// The prediction for a position inside a predicted match (after a correction moved off the encoder's path) is
/// the rest of that match. Everything depends only on the bytes, so the analyzer and the rebuilder agree.
/// </summary>
internal sealed class PgzipModel
{
    public const int BlockSize = 1 << 20, DictionarySize = 16384, ChunkSize = 65535, SmallFlush = 128;
    private const int Back = 32768;

    private readonly KlauspostLevel5Encoder _encoder = new();
    private readonly int[] _tokens = new int[ChunkSize];
    private readonly int[] _predicted = new int[ChunkSize]; // the prediction at each offset of the chunk
    private byte[] _bytes = new byte[4 * ChunkSize];          // the model's own copy: 32 KiB back of the chunk, the chunk
    private long _bytesBase, _bytesEnd;
    private long _chunkStart, _chunkEnd;                      // the chunk predicted ([0, 0) before the first)

    /// <summary>Where the chunk holding <paramref name="p"/> ends nominally (before the data's end cuts it).</summary>
    public static long NominalChunkEnd(long p)
    {
        var block = p - p % BlockSize;
        var chunk = block + (p - block) / ChunkSize * ChunkSize;
        return Math.Min(chunk + ChunkSize, block + BlockSize);
    }

    /// <summary>
    /// The predicted token at <paramref name="p"/>. The window must hold from 32 KiB before the last predicted
    /// position up to the end of <paramref name="p"/>'s chunk (or the data's end, <paramref name="end"/>, when known).
    /// </summary>
    public int Predict(long p, SlidingWindow window, long end)
    {
        Copy(window, p);
        while (p >= _chunkEnd) NextChunk(window, end);
        return _predicted[p - _chunkStart];
    }

    /// <summary>Keeps the model's copy of the bytes up to <paramref name="upTo"/> (the window lets go of them later).</summary>
    private void Copy(SlidingWindow window, long upTo)
    {
        if (upTo <= _bytesEnd) return;
        var length = (int)(upTo - _bytesEnd);
        if (_bytesEnd - _bytesBase + length > _bytes.Length) Array.Resize(ref _bytes, (int)(_bytesEnd - _bytesBase + length));
        window.Span(_bytesEnd, length).CopyTo(_bytes.AsSpan((int)(_bytesEnd - _bytesBase)));
        _bytesEnd = upTo;
    }

    private void NextChunk(SlidingWindow window, long end)
    {
        var start = _chunkEnd;
        var blockStart = start - start % BlockSize;
        var chunkEnd = Math.Min(NominalChunkEnd(start), end);
        // Keep only what the encoder can reach: 32 KiB before the chunk.
        var keep = Math.Max(_bytesBase, start - Back);
        if (keep > _bytesBase)
        {
            Array.Copy(_bytes, (int)(keep - _bytesBase), _bytes, 0, (int)(_bytesEnd - keep));
            _bytesBase = keep;
        }
        Copy(window, chunkEnd);
        if (start == blockStart)
        {
            _encoder.Reset(Math.Max(0, start - DictionarySize));
            if (start > 0) _encoder.Encode(_bytes, _bytesBase, start - DictionarySize, start, _tokens);
        }
        var length = (int)(chunkEnd - start);
        var flushed = chunkEnd == blockStart + BlockSize || chunkEnd == end;
        int count;
        if (flushed && length < SmallFlush)
        {
            count = 0;
            _encoder.Reset(chunkEnd);
        }
        else count = _encoder.Encode(_bytes, _bytesBase, start, chunkEnd, _tokens);
        if (count == 0 || count > length - (length >> 4))
            for (var i = 0; i < length; i++) _predicted[i] = _bytes[start + i - _bytesBase];
        else Spread(count, start);
        (_chunkStart, _chunkEnd) = (start, chunkEnd);
    }

    /// <summary>Lays the tokens out by offset; inside a match, the rest of it (a literal when under 3 bytes remain).</summary>
    private void Spread(int count, long start)
    {
        var at = 0;
        for (var i = 0; i < count; i++)
        {
            var token = _tokens[i];
            _predicted[at] = token;
            var span = Token.Span(token);
            for (var j = 1; j < span; j++)
                _predicted[at + j] = span - j >= 3 ? Token.Match(span - j, Token.Distance(token)) : _bytes[start + at + j - _bytesBase];
            at += span;
        }
    }
}

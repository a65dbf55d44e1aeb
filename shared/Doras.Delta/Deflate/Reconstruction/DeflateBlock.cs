namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>The three kinds of deflate block (RFC 1951 3.2.3), by their BTYPE value.</summary>
internal enum BlockType : byte { Stored = 0, Fixed = 1, Dynamic = 2 }

/// <summary>
/// One deflate block as written: everything needed to write it again bit for bit, given the inflated bytes it
/// covers (<see cref="Start"/>, <see cref="Length"/>). Stored blocks have no tokens: their bytes are the data.
/// </summary>
internal sealed class DeflateBlock
{
    public BlockType Type { get; set; }
    public bool Final { get; set; }
    /// <summary>Where the block's inflated bytes begin in the stream's inflated data, and how many there are.</summary>
    public long Start { get; set; }
    public long Length { get; set; }
    /// <summary>Stored blocks: the value of the bits that pad the block header to a byte boundary.</summary>
    public int Padding { get; set; }
    /// <summary>Dynamic blocks: the header as written.</summary>
    public DynamicHeader? Header { get; set; }
    /// <summary>Fixed and dynamic blocks: the tokens (<see cref="Token"/>), the first <see cref="TokenCount"/> of the array.</summary>
    public int[] Tokens { get; set; } = [];
    public int TokenCount { get; set; }
    /// <summary>
    /// Fixed blocks may be cut into segments of <see cref="DeflateLimits.SegmentTokens"/> tokens (their codes need
    /// no count of all of the block's symbols, so they need not be held whole; zlib-ng's fastest level writes
    /// blocks of millions of tokens): <see cref="Continued"/> when the block goes on in the next segment,
    /// <see cref="Continuation"/> when this segment goes on from the previous one (no block header).
    /// </summary>
    public bool Continued { get; set; }
    public bool Continuation { get; set; }
    /// <summary>Whether this is the last piece of the stream: the final block's last segment.</summary>
    public bool EndsStream => Final && !Continued;
    /// <summary>Final block: the value of the bits that pad the stream's last byte.</summary>
    public int FinalPadding { get; set; }
}

namespace Doras.Tests;

/// <summary>
/// Reads a zstd frame's header as RFC 8878 (section 3.1.1.1) lays it out, independently of the coders under test.
/// </summary>
public static class ZstdFrameHeader
{
    /// <summary>The content size the frame declares (Frame_Content_Size), or null when it declares none.</summary>
    public static long? ContentSize(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 6 || BitConverter.ToUInt32(frame) != 0xFD2FB528) throw new ArgumentException("not a zstd frame");
        var descriptor = frame[4];
        var (sizeFlag, singleSegment, dictionaryFlag) = (descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3);
        var p = 5 + (singleSegment == 1 ? 0 : 1) + dictionaryFlag switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
        return (sizeFlag, singleSegment) switch
        {
            (0, 0) => null,
            (0, _) => frame[p],
            (1, _) => BitConverter.ToUInt16(frame[p..]) + 256,
            (2, _) => BitConverter.ToUInt32(frame[p..]),
            _ => (long)BitConverter.ToUInt64(frame[p..]),
        };
    }
}

namespace Doras.Delta.Deflate.Reconstruction;

/// <summary>
/// One LZ77 token of a deflate block, packed in an int: a literal is its byte (0..255); a match is
/// <c>length &lt;&lt; 16 | distance</c> (length 3..258, distance 1..32768), with <see cref="Long258"/> set when the
/// length 258 was written as code 284 with extra bits 31 instead of code 285 (legal, and some encoders do it).
/// </summary>
internal static class Token
{
    public const int Long258 = 1 << 25;

    public static int Literal(byte value) => value;
    public static int Match(int length, int distance) => length << 16 | distance;
    public static bool IsMatch(int token) => token > 0xFF;
    public static int Length(int token) => (token >> 16) & 0x1FF;
    public static int Distance(int token) => token & 0xFFFF;
    /// <summary>Bytes of inflated data the token stands for.</summary>
    public static int Span(int token) => token > 0xFF ? (token >> 16) & 0x1FF : 1;
}

/// <summary>The fixed tables of RFC 1951: length and distance codes with their extra bits, the code-length order.</summary>
internal static class DeflateSymbols
{
    public const int EndOfBlock = 256;
    public const int MaxLength = 258, MinLength = 3, MaxDistance = 32768;

    public static readonly int[] LengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
    public static readonly int[] LengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    public static readonly int[] DistanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
    public static readonly int[] DistanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
    /// <summary>The order in which the code-length code's lengths are sent.</summary>
    public static readonly int[] CodeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

    private static readonly byte[] LengthCodeOf = BuildLengthCodes();
    private static readonly byte[] DistanceCodeOf = BuildDistanceCodes();

    /// <summary>The length code (0..28, add 257 for the symbol) of a length 3..258; 258 is code 28 (symbol 285).</summary>
    public static int LengthCode(int length) => LengthCodeOf[length];

    /// <summary>The distance code (0..29) of a distance 1..32768.</summary>
    public static int DistanceCode(int distance) => distance <= 256 ? DistanceCodeOf[distance - 1] : DistanceCodeOf[256 + ((distance - 1) >> 7)];

    private static byte[] BuildLengthCodes()
    {
        var codes = new byte[259];
        for (var code = 0; code < 28; code++)
            for (var i = 0; i < 1 << LengthExtra[code]; i++) codes[LengthBase[code] + i] = (byte)code;
        codes[258] = 28;
        return codes;
    }

    /// <summary>zlib's _dist_code: distances up to 256 directly, above by their high bits.</summary>
    private static byte[] BuildDistanceCodes()
    {
        var codes = new byte[512];
        for (var code = 0; code < 30; code++)
            for (var i = 0; i < 1 << DistanceExtra[code]; i++)
            {
                var d = DistanceBase[code] + i - 1; // 0-based distance
                if (d < 256) codes[d] = (byte)code;
                else codes[256 + (d >> 7)] = (byte)code;
            }
        return codes;
    }

    /// <summary>The code lengths of the fixed literal/length code (288 symbols) and distance code (30, plus 2 unused).</summary>
    public static readonly byte[] FixedLiteralLengths = [.. Enumerable.Range(0, 288).Select(i => (byte)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8))];
    public static readonly byte[] FixedDistanceLengths = [.. Enumerable.Repeat((byte)5, 32)];
}

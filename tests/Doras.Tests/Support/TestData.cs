namespace Doras.Tests.Support;

/// <summary>Deterministic inputs shaped like real versions: compressible structure, then scattered edits.</summary>
public static class TestData
{
    public static byte[] Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A binary of "instruction-like" 16-byte records with varying operands.</summary>
    public static byte[] Binary(int size, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[size];
        for (var i = 0; i + 16 <= size; i += 16)
        {
            bytes[i] = 0x48; bytes[i + 1] = 0x8b; bytes[i + 2] = (byte)random.Next(8);
            random.NextBytes(bytes.AsSpan(i + 3, 5));
            bytes[i + 8] = 0xe8; bytes[i + 9] = (byte)(i >> 8); bytes[i + 10] = (byte)(i >> 16);
        }
        return bytes;
    }

    /// <summary>The next "version": a few overwritten runs, insertions and a deletion.</summary>
    public static byte[] Edit(byte[] original, int seed, int edits = 20)
    {
        var random = new Random(seed);
        var result = new List<byte>(original);
        for (var e = 0; e < edits && result.Count > 200; e++)
        {
            var at = random.Next(result.Count - 100);
            switch (random.Next(3))
            {
                case 0:
                    for (var i = 0; i < 64; i++) result[at + i] = (byte)random.Next(256);
                    break;
                case 1:
                    result.InsertRange(at, Enumerable.Range(0, 50).Select(_ => (byte)random.Next(256)));
                    break;
                default:
                    result.RemoveRange(at, 40);
                    break;
            }
        }
        return result.ToArray();
    }
}

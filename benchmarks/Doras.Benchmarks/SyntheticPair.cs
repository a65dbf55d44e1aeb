namespace Doras.Benchmarks;

/// <summary>A structured "binary" and its next version with scattered edits, insertions and deletions.</summary>
public static class SyntheticPair
{
    public static (byte[] Old, byte[] New) Create(int size, int seed)
    {
        var random = new Random(seed);
        var old = new byte[size];
        for (var i = 0; i + 16 <= size; i += 16)
        {
            old[i] = 0x48; old[i + 1] = 0x8b; old[i + 2] = (byte)random.Next(8);
            random.NextBytes(old.AsSpan(i + 3, 5));
            old[i + 8] = 0xe8; old[i + 9] = (byte)(i >> 8); old[i + 10] = (byte)(i >> 16);
        }
        var edited = new List<byte>(old);
        for (var e = 0; e < 200; e++)
        {
            var at = random.Next(edited.Count - 100);
            switch (random.Next(3))
            {
                case 0: for (var i = 0; i < 64; i++) edited[at + i] = (byte)random.Next(256); break;
                case 1: edited.InsertRange(at, Enumerable.Range(0, 50).Select(_ => (byte)random.Next(256))); break;
                default: edited.RemoveRange(at, 40); break;
            }
        }
        return (old, edited.ToArray());
    }
}

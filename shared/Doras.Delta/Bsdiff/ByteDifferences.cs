using System.Numerics;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// bsdiff's byte differences (new minus old, modulo 256), a vector register at a time: matches of recompiled code
/// run to megabytes, and a byte-at-a-time loop was most of the apply's own CPU time.
/// </summary>
internal static class ByteDifferences
{
    /// <summary><paramref name="into"/>[i] = <paramref name="@new"/>[i] - <paramref name="old"/>[i]; the spans have one length.</summary>
    public static void Subtract(ReadOnlySpan<byte> @new, ReadOnlySpan<byte> old, Span<byte> into)
    {
        var i = 0;
        for (; i <= into.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            (new Vector<byte>(@new[i..]) - new Vector<byte>(old[i..])).CopyTo(into[i..]);
        for (; i < into.Length; i++) into[i] = (byte)(@new[i] - old[i]);
    }

    /// <summary><paramref name="into"/>[i] = <paramref name="old"/>[i] + <paramref name="difference"/>[i]; the spans have one length.</summary>
    public static void Add(ReadOnlySpan<byte> old, ReadOnlySpan<byte> difference, Span<byte> into)
    {
        var i = 0;
        for (; i <= into.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            (new Vector<byte>(old[i..]) + new Vector<byte>(difference[i..])).CopyTo(into[i..]);
        for (; i < into.Length; i++) into[i] = (byte)(old[i] + difference[i]);
    }

    /// <summary>How many positions <paramref name="a"/> and <paramref name="b"/> (one length) hold the same byte.</summary>
    public static int CountEqual(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var count = 0;
        var i = 0;
        for (; i <= a.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            count -= (int)Vector.Sum(Vector.AsVectorSByte(Vector.Equals(new Vector<byte>(a[i..]), new Vector<byte>(b[i..]))));
        for (; i < a.Length; i++) if (a[i] == b[i]) count++;
        return count;
    }
}

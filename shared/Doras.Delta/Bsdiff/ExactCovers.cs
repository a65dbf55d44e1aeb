using System.Runtime.CompilerServices;

namespace Doras.Delta.Bsdiff;

/// <summary>A stretch of the new version equal, byte for byte, to one of the old version.</summary>
public readonly record struct ExactCover(int NewStart, int OldStart, int Length)
{
    public int NewEnd => NewStart + Length;
}

/// <summary>
/// The long stretches new and old share exactly, found in linear time before any suffix sort: both versions are
/// hashed in windows of <see cref="Window"/> bytes, and the windows whose hash falls on a content-defined anchor
/// (about one position in <see cref="AnchorSpacing"/>, the same positions in both versions wherever their bytes
/// agree) are looked up in a table of the old version's anchors. Each hit is checked byte for byte and extended
/// forwards and backwards as far as the versions agree. A shared stretch of a few hundred bytes almost surely holds
/// an anchor; shorter ones are left to the suffix array. Firmware images, text and tar trees are mostly such
/// stretches, so the suffix sort then runs on the little that is left (<see cref="OldRemainder"/>).
/// </summary>
public static class ExactCovers
{
    public const int Window = 32;
    public const int AnchorSpacing = 32;

    /// <summary>Shorter agreements are not worth a cover: the suffix array finds them, with what surrounds them.</summary>
    public const int MinLength = 2 * Window;

    private const ulong Base = 0x100000001B3;
    private const ulong AnchorMask = AnchorSpacing - 1;

    /// <summary>The covers of <paramref name="new"/>, in its order, not overlapping.</summary>
    /// <param name="doneWith">Told of the stretches of <paramref name="new"/> behind the last cover, which no later cover reaches back into.</param>
    public static List<ExactCover> Find(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, CancellationToken ct = default, DoneWith? doneWith = null)
    {
        var given = 0;
        var covers = new List<ExactCover>();
        if (old.Length < Window || @new.Length < Window) return covers;
        var (anchors, longestRuns) = OldAnchors(old, ct);
        var outgoing = Power(Base, Window - 1);
        var offset = 0L; // old minus new position of the last cover: where an edit most likely resumes
        var start = 0;   // no cover reaches back before the end of the previous one
        var j = 0;
        var hash = Hash(@new.Slice(0, Window));
        var run = RunBefore(@new, Window);
        while (true)
        {
            // A window of one repeated byte goes to the old version's longest run of that byte; an anchored window to
            // the old anchor of its hash and to the previous cover's alignment, whichever agrees further.
            var cover = default(ExactCover);
            if (run >= Window)
            {
                if (longestRuns[@new[j]] is var (runStart, runLength) && runLength >= Window) cover = Extend(old, @new, j, runStart, start);
            }
            else if (IsAnchor(hash))
            {
                var found = anchors.TryGet(hash, out var oldAnchor);
                if (found) cover = Extend(old, @new, j, oldAnchor, start);
                var resumed = j + offset;
                if (resumed >= 0 && resumed + Window <= old.Length && !(found && resumed == oldAnchor))
                {
                    var other = Extend(old, @new, j, (int)resumed, start);
                    if (other.Length >= cover.Length) cover = other;
                }
            }
            if (cover.Length >= MinLength)
            {
                covers.Add(cover);
                offset = (long)cover.OldStart - cover.NewStart;
                start = j = cover.NewEnd;
                if (doneWith is not null && start - given >= MatchScan.DoneWithStep)
                {
                    doneWith(given, start);
                    given = start;
                }
                if (j + Window > @new.Length) break;
                hash = Hash(@new.Slice(j, Window));
                run = RunBefore(@new, j + Window);
                if ((covers.Count & 1023) == 0) ct.ThrowIfCancellationRequested();
                continue;
            }
            if (j + Window >= @new.Length) break;
            hash = Roll(hash, @new[j], @new[j + Window], outgoing);
            run = @new[j + Window] == @new[j + Window - 1] ? run + 1 : 1;
            j++;
            if ((j & ((1 << 20) - 1)) == 0) ct.ThrowIfCancellationRequested();
        }
        return covers;
    }

    /// <summary>How many bytes of <paramref name="new"/> the covers hold.</summary>
    public static long CoveredBytes(IReadOnlyList<ExactCover> covers)
    {
        var total = 0L;
        foreach (var cover in covers) total += cover.Length;
        return total;
    }

    /// <summary>The agreement through new[<paramref name="j"/>] and old[<paramref name="o"/>], if the window there agrees; empty otherwise.</summary>
    private static ExactCover Extend(ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, int j, int o, int notBefore)
    {
        if (o + Window > old.Length || !@new.Slice(j, Window).SequenceEqual(old.Slice(o, Window))) return default;
        var forward = Window + @new[(j + Window)..].CommonPrefixLength(old[(o + Window)..]);
        var back = 0;
        while (j - back > notBefore && o - back > 0 && @new[j - back - 1] == old[o - back - 1]) back++;
        return new ExactCover(j - back, o - back, back + forward);
    }

    /// <summary>
    /// The old version's anchors (for each anchored window hash, its first position) and its longest run of each byte
    /// value. Runs are kept apart: all their windows hash alike, and the first run of a byte may be the shortest.
    /// </summary>
    private static (AnchorTable Anchors, (int Start, int Length)[] LongestRuns) OldAnchors(ReadOnlySpan<byte> old, CancellationToken ct)
    {
        var table = new AnchorTable(old.Length / AnchorSpacing);
        var longestRuns = new (int Start, int Length)[256];
        var outgoing = Power(Base, Window - 1);
        var hash = Hash(old.Slice(0, Window));
        for (var i = 0; ; i++)
        {
            if (IsAnchor(hash)) table.AddFirst(hash, i);
            if (i + Window >= old.Length) break;
            hash = Roll(hash, old[i], old[i + Window], outgoing);
            if ((i & ((1 << 20) - 1)) == 0) ct.ThrowIfCancellationRequested();
        }
        for (var i = 0; i < old.Length;)
        {
            var other = old[(i + 1)..].IndexOfAnyExcept(old[i]);
            var length = other >= 0 ? 1 + other : old.Length - i;
            if (length > longestRuns[old[i]].Length) longestRuns[old[i]] = (i, length);
            i += length;
        }
        return (table, longestRuns);
    }

    /// <summary>Content-defined anchors: about one window in <see cref="AnchorSpacing"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsAnchor(ulong hash) => (Mix(hash) & AnchorMask) == 0;

    /// <summary>How many equal bytes end just before <paramref name="end"/>, counted up to <see cref="Window"/> (at least 1).</summary>
    private static int RunBefore(ReadOnlySpan<byte> data, int end)
    {
        var run = 1;
        while (run < Window && run < end && data[end - run - 1] == data[end - 1]) run++;
        return run;
    }

    private static ulong Hash(ReadOnlySpan<byte> window)
    {
        var hash = 0UL;
        foreach (var b in window) hash = hash * Base + b + 1;
        return hash;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Roll(ulong hash, byte leaving, byte entering, ulong outgoing) => (hash - (leaving + 1UL) * outgoing) * Base + entering + 1;

    /// <summary>The polynomial hash's low bits depend on few bytes; anchors and table slots take well-mixed bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong hash) => (hash ^ (hash >> 29)) * 0xBF58476D1CE4E5B9 >> 32;

    private static ulong Power(ulong x, int n)
    {
        var result = 1UL;
        for (var i = 0; i < n; i++) result *= x;
        return result;
    }

    /// <summary>
    /// Open addressing from hash to position; the first position of each hash is kept. Room for twice the expected
    /// anchors; past three quarters full, or past <see cref="MaxProbes"/> slots of a cluster (hashes crafted to
    /// collide), an anchor is dropped and a lookup misses: a few covers fewer, never quadratic work. A slot holds the
    /// hash's upper 32 bits and the position (8 bytes, 2 GiB of old version at most): two anchors are taken for one
    /// only when those 32 bits agree within one probe run (a few covers fewer, very rarely), and a lookup's hit is
    /// checked byte for byte anyway. The 240 MiB firmware image's table is 128 MiB so (192 MiB with whole hashes beside the positions).
    /// </summary>
    private sealed class AnchorTable
    {
        private const int MaxProbes = 32;
        private readonly ulong[] _slots; // tag << 32 | position + 1; zero marks an empty slot
        private readonly int _mask;
        private readonly int _shift;
        private int _count;

        public AnchorTable(int expected)
        {
            var bits = 4;
            while (1 << bits < 2L * expected) bits++;
            _slots = new ulong[1 << bits];
            _mask = (1 << bits) - 1;
            _shift = 64 - bits;
        }

        /// <summary>Fibonacci hashing: the product's top bits depend on every bit of the hash.</summary>
        private int Slot(ulong hash) => (int)(hash * 0x9E3779B97F4A7C15 >> _shift);

        private static ulong Tag(ulong hash) => hash & 0xFFFF_FFFF_0000_0000;

        public void AddFirst(ulong hash, int position)
        {
            var slot = Slot(hash);
            var tag = Tag(hash);
            for (var probe = 0; probe < MaxProbes; probe++, slot = (slot + 1) & _mask)
            {
                var held = _slots[slot];
                if (held == 0)
                {
                    if (_count * 4 >= _slots.Length * 3) return;
                    _slots[slot] = tag | (uint)(position + 1);
                    _count++;
                    return;
                }
                if (Tag(held) == tag) return;
            }
        }

        public bool TryGet(ulong hash, out int position)
        {
            var slot = Slot(hash);
            var tag = Tag(hash);
            for (var probe = 0; probe < MaxProbes && _slots[slot] is var held && held != 0; probe++, slot = (slot + 1) & _mask)
            {
                if (Tag(held) != tag) continue;
                position = (int)(uint)held - 1;
                return true;
            }
            position = 0;
            return false;
        }
    }
}

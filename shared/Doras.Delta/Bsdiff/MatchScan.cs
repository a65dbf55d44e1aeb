namespace Doras.Delta.Bsdiff;

/// <summary>
/// One record of a bsdiff delta: <see cref="Length"/> bytes of the new version at <see cref="NewStart"/> made from the
/// old bytes at <see cref="OldStart"/> plus byte differences, then <see cref="ExtraLength"/> bytes found nowhere.
/// </summary>
public readonly record struct BsdiffMatch(long NewStart, long OldStart, long Length, long ExtraLength);

/// <summary>
/// Colin Percival's scan: approximate matches found through a suffix array of the old version, each extended
/// forwards and backwards as far as old and new mostly agree. Its result is the list of records; writing them
/// (<see cref="BsdiffDelta"/>) is apart, so a writer can look at every match before it writes the first.
/// </summary>
public static class MatchScan
{
    /// <summary>
    /// The most parts a scan is split into, whatever the machine: the parts, and so a delta's bytes, depend on the
    /// versions alone (the tool and every server instance give the same delta); fewer cores scan them on fewer threads.
    /// </summary>
    public const int MaxParts = 4;

    /// <summary>The records turning <paramref name="old"/> into <paramref name="new"/>, in the order of the new version, in one part.</summary>
    public static List<BsdiffMatch> Find(byte[] old, byte[] @new) => Find(old, @new, parallelism: 1, minPartBytes: int.MaxValue);

    /// <summary>
    /// Like <see cref="Find(byte[], byte[])"/>, with the scan (most of the time on large files) split over parts of the
    /// new version of at least <paramref name="minPartBytes"/> (at most <see cref="MaxParts"/>), scanned on up to
    /// <paramref name="parallelism"/> threads. Each part finds its matches in the whole old version. The old version is
    /// indexed once (<see cref="OldIndex.For"/>): exact covers first, then a suffix array of all of it or of what the
    /// covers leave; with <paramref name="collectBetweenPhases"/> the covers' garbage is collected in between
    /// (<see cref="BuildGarbage"/>), for a build of whole versions, not for each of tardiff's members.
    /// </summary>
    /// <param name="doneWith">Told of the stretches of <paramref name="new"/> the covers and the scan will not read again (<see cref="MappedBytes"/>).</param>
    public static List<BsdiffMatch> Find(byte[] old, ReadOnlyMemory<byte> @new, int parallelism, int minPartBytes = 4 << 20, CancellationToken ct = default,
        bool collectBetweenPhases = false, DoneWith? doneWith = null)
    {
        var index = OldIndex.For(old, @new.Span, collectBetweenPhases, ct, doneWith);
        var parts = (int)Math.Clamp(@new.Length / Math.Max(1, minPartBytes), 1, MaxParts);
        var bounds = Enumerable.Range(0, parts + 1).Select(i => (int)((long)@new.Length * i / parts)).ToArray();
        var found = new List<BsdiffMatch>[parts];
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = ct }, k =>
        {
            found[k] = [];
            Scan(index, old, @new.Span.Slice(bounds[k], bounds[k + 1] - bounds[k]), bounds[k], found[k], ct, doneWith);
        });
        return parts == 1 ? found[0] : found.SelectMany(part => part).ToList();
    }

    /// <summary>How far behind its readers the new version is given back, in steps of this much (a few system calls per 240 MiB).</summary>
    internal const int DoneWithStep = 8 << 20;

    /// <summary>
    /// How many more bytes than the current alignment predicts a match must hold to start a record that moves the old
    /// position by <paramref name="jump"/>: Percival's 8, plus one per bit the move needs beyond 8, since a record costs
    /// its move (a varint, near random after compression) and usually a move back. With a flat 8 the 240 MiB firmware
    /// image took 34,282 records, 33,578 of them matches under 64 bytes far away, whose moves cost more than their bytes
    /// saved. Measured (benchmarks/RESULTS.md, 2026-12-07): firmware bsdiff-lzma 1,060,402 -> 939,830 bytes, esbuild
    /// bsdiff-exe 262,223 -> 248,952, bsdiff-lzma 428,474 -> 415,477, classic bsdiff 492,337 -> 478,417, rollup
    /// bsdiff-exe -3.5 %, typescript -3 %, prettier's tar -0.7 % (tardiff -1.5 %); esbuild-arm64 +0.13 %, swc +0.003 %.
    /// </summary>
    private static int RecordMargin(long jump) => MinRecordMargin + Math.Max(0, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Abs(jump)) - 8);

    /// <summary>
    /// The least <see cref="RecordMargin"/>: a match no longer than this never starts a record, so the scan uses no
    /// position of one (<see cref="ShortMatches"/> relies on it).
    /// </summary>
    internal const int MinRecordMargin = 8;

    /// <summary>The classic scan of <paramref name="new"/> (which starts at <paramref name="newOffset"/> of the whole new version).</summary>
    private static void Scan(OldIndex index, ReadOnlySpan<byte> old, ReadOnlySpan<byte> @new, int newOffset, List<BsdiffMatch> matches,
        CancellationToken ct = default, DoneWith? doneWith = null)
    {
        int oldSize = old.Length, newSize = @new.Length, cursor = 0, given = 0;
        // A part of a parallel scan starts on the diagonal (old position = new position), as the first part does: its
        // first record's move is measured from there (RecordMargin), not from old position 0.
        int scan = 0, len = 0, pos = 0, lastScan = 0, lastPos = Math.Min(newOffset, oldSize), lastOffset = newOffset;
        while (scan < newSize)
        {
            var oldScore = 0;
            for (var scsc = scan += len; scan < newSize; scan++)
            {
                len = index.Longest(@new[scan..], newOffset + scan, ref cursor, out pos);
                // How much of the new match the previous alignment already predicts (scsc + lastOffset >= 0 always).
                if (scsc < scan + len)
                {
                    var counted = Math.Min(scan + len, oldSize - lastOffset) - scsc;
                    if (counted > 0) oldScore += ByteDifferences.CountEqual(old.Slice(scsc + lastOffset, counted), @new.Slice(scsc, counted));
                    scsc = scan + len;
                }
                if ((len == oldScore && len != 0) || len > oldScore + RecordMargin((long)pos - scan - lastOffset)) break;
                if (scan + lastOffset < oldSize && old[scan + lastOffset] == @new[scan]) oldScore--;
            }
            if (len == oldScore && scan != newSize) continue;

            // Extend the previous match forwards and this one backwards, as far as they mostly agree.
            int s = 0, sf = 0, lenf = 0;
            for (var i = 0; lastScan + i < scan && lastPos + i < oldSize;)
            {
                if (old[lastPos + i] == @new[lastScan + i])
                {
                    // A run of agreement raises the score at every byte, so its end is the best point in it: one step.
                    var run = old.Slice(lastPos + i, Math.Min(scan - lastScan, oldSize - lastPos) - i).CommonPrefixLength(@new[(lastScan + i)..scan]);
                    s += run;
                    i += run;
                }
                else i++;
                if (s * 2 - i > sf * 2 - lenf) { sf = s; lenf = i; }
            }
            var lenb = 0;
            if (scan < newSize)
            {
                s = 0;
                var sb = 0;
                for (var i = 1; scan >= lastScan + i && pos >= i; i++)
                {
                    if (old[pos - i] == @new[scan - i]) s++;
                    if (s * 2 - i > sb * 2 - lenb) { sb = s; lenb = i; }
                }
            }
            if (lastScan + lenf > scan - lenb)
            {
                var overlap = lastScan + lenf - (scan - lenb);
                s = 0;
                int ss = 0, lens = 0;
                for (var i = 0; i < overlap; i++)
                {
                    if (@new[lastScan + lenf - overlap + i] == old[lastPos + lenf - overlap + i]) s++;
                    if (@new[scan - lenb + i] == old[pos - lenb + i]) s--;
                    if (s > ss) { ss = s; lens = i + 1; }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }

            ct.ThrowIfCancellationRequested();
            matches.Add(new BsdiffMatch(newOffset + lastScan, lastPos, lenf, scan - lenb - (lastScan + lenf)));
            lastScan = scan - lenb;
            lastPos = pos - lenb;
            lastOffset = pos - scan;
            // Nothing before the last record's start is read again (its forward extension starts there).
            if (doneWith is not null && lastScan - given >= DoneWithStep)
            {
                doneWith(newOffset + given, newOffset + lastScan);
                given = lastScan;
            }
        }
    }
}

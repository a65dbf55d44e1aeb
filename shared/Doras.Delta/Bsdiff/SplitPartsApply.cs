using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Applies a bsdiff delta stored as three compressed parts in the order control, extra, diff (each with its own
/// decoder), keeping device memory bounded: control and extra are decoded first, one after the other, into a
/// spool (in memory while small, else a file beside the output, deleted when done), so only one decoder, and
/// one decoder window, is alive at a time; then the diff part streams.
/// </summary>
internal static class SplitPartsApply
{
    /// <summary>Raw control or extra bytes up to this size stay in memory; more go to a file.</summary>
    private const int InMemorySpoolBytes = 1 << 20;

    /// <summary>
    /// The most a part may decode to (or be stored as): the target plus a few bytes per record, so far more is a
    /// bomb. Unknown targets (<see cref="long.MaxValue"/>) are not bounded here.
    /// </summary>
    public static long MaxPartBytes(long targetSize) => targetSize == long.MaxValue ? long.MaxValue : 2 * targetSize + (64 << 20);

    /// <summary>Refuses stored control and extra lengths past what the target can need, before reading them.</summary>
    private static void CheckLengths(long controlLength, long extraLength, long targetSize, string what)
    {
        var limit = MaxPartBytes(targetSize);
        if (controlLength > limit || extraLength > limit - controlLength)
            throw new CorruptDeltaException($"{what} has parts of {controlLength} and {extraLength} bytes, more than its target can need");
    }

    /// <summary>
    /// Reads the compressed lengths of control and extra (varints, refused past what the target can need), then
    /// the three parts from <paramref name="remainder"/>, and writes the new version.
    /// </summary>
    /// <param name="decode">Opens a decoder over one compressed part; its output must be bounded by the caller's limit.</param>
    public static async Task<long> ApplyAsync(string oldPath, Stream remainder, Func<Stream, string, Stream> decode, Stream output,
        long targetSize, string spoolDirectory, string what, CancellationToken ct, MatchPredictionFactory? predict = null)
    {
        var (controlLength, extraLength) = (Varint.ReadLength(remainder, what), Varint.ReadLength(remainder, what));
        CheckLengths(controlLength, extraLength, targetSize, what);
        var truncated = $"{what} is truncated in its control or extra part";
        await using var control = await SpoolAsync(new BoundedReadStream(remainder, controlLength, truncated: truncated), "control", decode, spoolDirectory, what, ct).ConfigureAwait(false);
        // Every extra byte is a byte of the target: more is a bomb, refused before it fills the device's disk.
        await using var extra = await SpoolAsync(new BoundedReadStream(remainder, extraLength, truncated: truncated), "extra", decode, spoolDirectory, what, ct, limit: targetSize).ConfigureAwait(false);
        using var oldFile = File.OpenHandle(oldPath, FileMode.Open, FileAccess.Read, FileShare.Read); // read synchronously (OldFileWindow)
        var oldSize = RandomAccess.GetLength(oldFile);
        // One window serves the apply and the prediction's look at the same bytes: one read per match, not two.
        var old = new OldFileWindow(oldFile, 0, oldSize);
        // A spool that went to a file left its in-memory buffers on the large object heap, which only a full collection
        // frees; the device's peak comes next, while the prediction chooses its matches and the diff decoder takes its
        // window. Freed now, they are not part of it (biome: 22.7-24.3 -> 21.9 MiB peak RSS, for 2 ms of CPU); small
        // deltas, spooled in memory, leave nothing to free and skip the collection, which costs memory of its own.
        if (control.InFile || extra.InFile)
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // The prediction's list of matches is read before the diff decoder allocates its window.
        var prediction = predict?.Create(control, oldSize, old.Read, targetSize, ct);
        // Decoded on a thread of its own while the records apply (the delta is not read here again).
        await using var diff = new ReadAheadStream(decode(remainder, "diff"));
        var produced = await BsdiffDelta.ApplyAsync(old, oldSize, new BsdiffDelta.Parts(control, diff, extra), output, targetSize, prediction, ct).ConfigureAwait(false);
        if (targetSize != long.MaxValue && produced != targetSize)
            throw new CorruptDeltaException($"delta produced {produced} bytes, expected {targetSize}");
        return produced;
    }

    private static async Task<Spool> SpoolAsync(BoundedReadStream part, string name, Func<Stream, string, Stream> decode, string spoolDirectory, string what,
        CancellationToken ct, long limit = long.MaxValue)
    {
        var spool = new Spool(spoolDirectory, "bsdiff", InMemorySpoolBytes);
        try
        {
            // Synchronous reads and writes: the decoders work inline and the spool is a local file, so asynchronous
            // calls only added a thread-pool hop per 64 KiB.
            await using (var decoded = decode(part, name))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = decoded.Read(buffer)) > 0)
                {
                    ct.ThrowIfCancellationRequested();
                    if (spool.Length + n > limit)
                        throw new CorruptDeltaException($"{what}'s {name} part decodes to more than its target's {limit} bytes");
                    spool.Write(buffer, 0, n);
                }
            }
            if (part.Remaining > 0) throw new CorruptDeltaException($"{what} has {part.Remaining} bytes after the end of its {name} part");
            spool.Flush();
            spool.Position = 0;
            return spool;
        }
        catch
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

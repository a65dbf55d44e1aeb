using Doras.Delta.Bsdiff;
using Doras.Delta.Lzma;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff's three parts coded as raw LZMA2 streams, shared by bsdiff-lzma and bsdiff-exe. Layout after the
/// algorithm's own head: for control, extra and diff the log2 of its LZMA2 dictionary (one byte each, at most 23:
/// the device allocates it), the compressed lengths of control and extra (varints), then the three streams. The
/// device decodes with the system's liblzma, one part at a time (<see cref="SplitPartsApply"/>).
/// </summary>
internal static class LzmaParts
{
    /// <summary>
    /// LZMA's pb for control, extra and diff: the control part's varints and the diff part's byte differences have no
    /// alignment (pb 0); extra is mostly new code, aligned on ARM64 (xz's default, 2). Measured on the dumped parts of 4
    /// executables and 4 JavaScript and tar pairs (benchmarks/RESULTS.md, 2026-12-07): pb 0 made every control and diff
    /// part smaller but one (prettier's tar, +39 bytes of 56,113) and the executables' extra parts 0.2-2.9 % larger.
    /// </summary>
    private static readonly int[] PositionBits = [0, 2, 0];

    /// <summary>
    /// The largest LZMA2 dictionary of control, extra and diff (log2). The diff part's is 1 MiB: it is the differences
    /// inside matches, mostly zero bytes, and what repeats in it (one edit at neighbouring references) lies close, so a
    /// larger window found almost nothing more, while it is what a device holds while the diff part streams, its peak.
    /// Measured (benchmarks/RESULTS.md, "2026-12-07, before midnight"): against 4 MiB, esbuild x64 and arm64 58 and 37
    /// bytes smaller and 1.9 MiB less peak RSS applying; biome arm64 (a 38 MB diff part) 20,335 bytes larger (0.37 %)
    /// and 3.3 MiB less (22.7 -> 19.5 MiB). Extra is new code and data, whose repeats lie far apart: 1 MiB there made biome's 119 KB
    /// (5 %) larger, so it keeps the build's bound; its decoder is gone before the diff part's starts (it is spooled).
    /// </summary>
    private static readonly int[] MaxDictionaryLogs = [Lzma2.MaxBuildDictionaryLog, Lzma2.MaxBuildDictionaryLog, 20];

    /// <summary>
    /// The coded parts of <paramref name="matches"/>: the dictionary logs (control, extra, diff), then the three
    /// streams. The versions are released once the raw parts are written, before the coder's match finder arrives.
    /// </summary>
    public static (byte[] DictionaryLogs, MemoryStream Control, MemoryStream Extra, MemoryStream Diff) Encode(
        BsdiffVersions versions, IReadOnlyList<BsdiffMatch> matches, Func<IReadOnlyList<BsdiffMatch>, IMatchPrediction>? predict, CancellationToken ct)
    {
        // The scan's index (the suffix array, about 4 bytes per byte of the old version, and the covers) is garbage
        // once its matches are out: collected before the raw parts grow, it is not held beside them (esbuild's peak was
        // the end of the scan plus the raw parts).
        BuildGarbage.CollectFor(versions.Length);
        var raw = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() }; // control, extra, diff
        WriteRaw(versions, matches, raw, predict, ct);
        var released = versions.Length;
        versions.Release();
        // The versions and the prediction's buffers are garbage now: collected and given back to the system before the
        // coder allocates its match finder, a large build's peak is the larger of the two, not their sum (esbuild: 126
        // MiB; 170 MiB with a plain full collection, which keeps the freed memory).
        BuildGarbage.CollectFor(released);
        var compressed = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() };
        var dictionaryLogs = new byte[raw.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            dictionaryLogs[i] = (byte)Lzma2.DictionaryLogFor(raw[i].Length, MaxDictionaryLogs[i]);
            Lzma2.Compress(raw[i].GetBuffer().AsSpan(0, (int)raw[i].Length), compressed[i], dictionaryLogs[i], PositionBits[i], ct);
            raw[i] = null!; // each raw part can go once coded
        }
        return (dictionaryLogs, compressed[0], compressed[1], compressed[2]);
    }

    /// <summary>The raw parts, in a frame of its own: the versions' arrays read here are not held past it (<see cref="BsdiffVersions"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void WriteRaw(BsdiffVersions versions, IReadOnlyList<BsdiffMatch> matches, MemoryStream[] raw, Func<IReadOnlyList<BsdiffMatch>, IMatchPrediction>? predict,
        CancellationToken ct) =>
        BsdiffDelta.Write(versions.Old, versions.New.Span, matches, new BsdiffDelta.Parts(raw[0], raw[2], raw[1], BsdiffDelta.LzmaUnchangedRun), predict?.Invoke(matches),
            versions.DoneWithNew, ct);

    /// <summary>
    /// Reads and checks the delta header (<see cref="DeltaHeader.ReadCheckedAsync"/>) and the algorithm's format byte,
    /// which must be one of <paramref name="formats"/>; returns the format found.
    /// </summary>
    public static async Task<(DeltaHeader Header, Stream Remainder, byte Format)> ReadHeadAsync(DeltaInput oldVersion, Stream delta, DeltaTarget? expected,
        string algorithm, byte[] formats, string what, CancellationToken ct)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, algorithm, ct).ConfigureAwait(false);
        if (header is null) throw new CorruptDeltaException($"{what} has no header");
        var found = remainder.ReadByte();
        if (found < 0) throw new CorruptDeltaException($"{what} is truncated");
        if (Array.IndexOf(formats, (byte)found) < 0) throw new CorruptDeltaException($"{what} has format {found}, which this build does not know");
        return (header, remainder, (byte)found);
    }

    /// <summary>Reads the dictionary logs (refusing any outside what a device allocates) and applies the parts.</summary>
    public static async Task ApplyAsync(string oldPath, Stream remainder, Stream output, long targetSize, string spoolDirectory, string what,
        MatchPredictionFactory? predict, CancellationToken ct)
    {
        var head = new byte[3];
        if (await remainder.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) < head.Length)
            throw new CorruptDeltaException($"{what} is truncated");
        var logs = new Dictionary<string, int> { ["control"] = head[0], ["extra"] = head[1], ["diff"] = head[2] };
        foreach (var (part, log) in logs)
            if (log is < Lzma2.MinDictionaryLog or > Lzma2.MaxDictionaryLog)
                throw new CorruptDeltaException($"{what} asks for an LZMA2 dictionary of 2^{log} bytes for its {part} part; 2^{Lzma2.MinDictionaryLog} to 2^{Lzma2.MaxDictionaryLog} are allowed");
        var limit = SplitPartsApply.MaxPartBytes(targetSize);
        await SplitPartsApply.ApplyAsync(oldPath, remainder, (part, name) => new Lzma2DecoderStream(part, logs[name], limit),
            output, targetSize, spoolDirectory, what, ct, predict).ConfigureAwait(false);
    }
}

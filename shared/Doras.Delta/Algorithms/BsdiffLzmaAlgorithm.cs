using Doras.Delta.Bsdiff;
using Doras.Delta.Lzma;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff's three parts (<see cref="BsdiffDelta"/>) with LZMA2 as the entropy coder instead of zstd: about 10 %
/// smaller deltas of executables (lzma's literal and match coding suits byte differences and new code better).
/// Format: the delta header, a format byte (1), for control, extra and diff the log2 of its LZMA2 dictionary (one
/// byte each, at most 23: the device allocates it), the compressed lengths of control and extra (varints), then
/// the three raw LZMA2 streams. The device decodes with the system's liblzma (liblzma.so.5), one part at a time
/// (<see cref="SplitPartsApply"/>). When liblzma cannot be loaded the build is refused, so <c>auto</c> keeps the
/// zstd bsdiff.
/// </summary>
public sealed class BsdiffLzmaAlgorithm(long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : BsdiffPartsAlgorithm(maxInputBytes)
{
    public const string AlgorithmName = "bsdiff-lzma";

    private const byte Format = 1;
    private const string What = "bsdiff-lzma delta";

    public override string Name => AlgorithmName;
    public override string MediaType => "application/vnd.doras.delta.bsdiff+lzma2";

    public override async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var (old, @new) = await ReadVersionsAsync(oldVersion, newVersion, ct).ConfigureAwait(false);
        Lzma2.EnsureAvailable();
        var raw = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() }; // control, extra, diff
        var compressed = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() };
        var dictionaryLogs = new byte[raw.Length];
        await WrappedStream.RunWithLargeStackAsync(() =>
        {
            BsdiffDelta.Write(old, @new, new BsdiffDelta.Parts(raw[0], raw[2], raw[1]), BsdiffAlgorithm.ScanParallelism);
            old = @new = null!; // the suffix array and versions can go before the coder's match finder arrives
            for (var i = 0; i < raw.Length; i++)
            {
                ct.ThrowIfCancellationRequested();
                dictionaryLogs[i] = (byte)Lzma2.DictionaryLogFor(raw[i].Length);
                Lzma2.Compress(raw[i].GetBuffer().AsSpan(0, (int)raw[i].Length), compressed[i], dictionaryLogs[i]);
                raw[i] = null!;
            }
        }, ct).ConfigureAwait(false);
        await WriteAsync(delta, oldVersion, newVersion, [Format, .. dictionaryLogs], compressed[0], compressed[1], compressed[2], ct).ConfigureAwait(false);
    }

    protected override async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        if (header is null) throw new CorruptDeltaException($"{What} has no header");
        var targetSize = expected?.Size ?? header.TargetSize;
        var head = new byte[4];
        if (await remainder.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) < head.Length)
            throw new CorruptDeltaException($"{What} is truncated");
        if (head[0] != Format) throw new CorruptDeltaException($"{What} has format {head[0]}, which this build does not know");
        var logs = new Dictionary<string, int> { ["control"] = head[1], ["extra"] = head[2], ["diff"] = head[3] };
        foreach (var (part, log) in logs)
            if (log is < Lzma2.MinDictionaryLog or > Lzma2.MaxDictionaryLog)
                throw new CorruptDeltaException($"{What} asks for an LZMA2 dictionary of 2^{log} bytes for its {part} part; 2^{Lzma2.MinDictionaryLog} to 2^{Lzma2.MaxDictionaryLog} are allowed");
        var limit = SplitPartsApply.MaxPartBytes(targetSize);
        await SplitPartsApply.ApplyAsync(oldVersion.Path, remainder, (part, name) => new Lzma2DecoderStream(part, logs[name], limit),
            output, targetSize, spoolDirectory, What, ct).ConfigureAwait(false);
    }
}

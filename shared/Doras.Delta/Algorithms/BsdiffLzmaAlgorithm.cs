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
public sealed class BsdiffLzmaAlgorithm(long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : IDeltaAlgorithm
{
    public const string AlgorithmName = "bsdiff-lzma";

    private const byte Format = 1;
    private const string What = "bsdiff-lzma delta";

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.bsdiff+lzma2";

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var limit = Math.Min(maxInputBytes, BsdiffAlgorithm.MaxInputBytes);
        if (oldVersion.Size > limit || newVersion.Size > limit)
            throw new Artifacts.IncompatibleArtifactException($"bsdiff is limited to versions of {limit} bytes here");
        Lzma2.EnsureAvailable();
        var old = await File.ReadAllBytesAsync(oldVersion.Path, ct).ConfigureAwait(false);
        var @new = await File.ReadAllBytesAsync(newVersion.Path, ct).ConfigureAwait(false);
        var raw = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() }; // control, extra, diff
        var compressed = new[] { new MemoryStream(), new MemoryStream(), new MemoryStream() };
        var dictionaryLogs = raw.Select(_ => 0).ToArray();
        await WrappedStream.RunWithLargeStackAsync(() =>
        {
            BsdiffDelta.Write(old, @new, new BsdiffDelta.Parts(raw[0], raw[2], raw[1]), BsdiffAlgorithm.ScanParallelism);
            old = @new = null!; // the suffix array and versions can go before the coder's match finder arrives
            for (var i = 0; i < raw.Length; i++)
            {
                ct.ThrowIfCancellationRequested();
                dictionaryLogs[i] = Lzma2.DictionaryLogFor(raw[i].Length);
                Lzma2.Compress(raw[i].GetBuffer().AsSpan(0, (int)raw[i].Length), compressed[i], dictionaryLogs[i]);
                raw[i] = null!;
            }
        }, ct).ConfigureAwait(false);
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        var head = new MemoryStream();
        head.WriteByte(Format);
        foreach (var log in dictionaryLogs) head.WriteByte((byte)log);
        Varint.Write(head, compressed[0].Length);
        Varint.Write(head, compressed[1].Length);
        await delta.WriteAsync(head.ToArray(), ct).ConfigureAwait(false);
        foreach (var part in compressed)
            await delta.WriteAsync(part.GetBuffer().AsMemory(0, (int)part.Length), ct).ConfigureAwait(false);
    }

    public Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default) =>
        ApplyAsync(oldVersion, delta, output, expected, Path.GetTempPath(), ct);

    /// <summary>Spools large control and extra parts beside the output, on the same storage, not in a temporary file system in RAM.</summary>
    public Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default) =>
        OutputFile.WriteAsync(outputPath, (output, directory) => ApplyAsync(oldVersion, delta, output, expected, directory, ct), ct);

    private static async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        if (header is null) throw new CorruptDeltaException($"{What} has no header");
        var targetSize = expected?.Size ?? header.TargetSize;
        var head = new byte[4];
        if (await remainder.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) < head.Length)
            throw new CorruptDeltaException($"{What} is truncated");
        if (head[0] != Format) throw new CorruptDeltaException($"{What} has format {head[0]}, which this build does not know");
        var (controlLength, extraLength) = (Varint.ReadLength(remainder, What), Varint.ReadLength(remainder, What));
        SplitPartsApply.CheckLengths(controlLength, extraLength, targetSize, What);
        var limit = SplitPartsApply.MaxPartBytes(targetSize);
        var logs = new Dictionary<string, int> { ["control"] = head[1], ["extra"] = head[2], ["diff"] = head[3] };
        foreach (var (part, log) in logs)
            if (log is < Lzma2.MinDictionaryLog or > Lzma2.MaxDictionaryLog)
                throw new CorruptDeltaException($"{What} asks for an LZMA2 dictionary of 2^{log} bytes for its {part} part; 2^{Lzma2.MinDictionaryLog} to 2^{Lzma2.MaxDictionaryLog} are allowed");
        await SplitPartsApply.ApplyAsync(oldVersion.Path, remainder, controlLength, extraLength,
            (part, name) => new Lzma2DecoderStream(part, logs[name], limit), output, targetSize, spoolDirectory, What, ct).ConfigureAwait(false);
    }
}

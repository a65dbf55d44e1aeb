using Doras.Delta.Bsdiff;
using Doras.Delta.Zstd;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff (our implementation of the classic suffix-array algorithm), stored as the delta header, a format byte
/// (2), the compressed lengths of the control and extra parts (varints), then the control, extra and diff parts,
/// each one zstd frame, as classic bsdiff compresses its three parts apart (2-4 % smaller than one interleaved
/// frame on the npm executables). The device decodes the control and extra parts first, one at a time, into a
/// spool (<see cref="SplitPartsApply"/>), then streams the diff part: one decoder window at a time. Deltas of the
/// earlier layout (one interleaved frame, recognised by zstd's magic number) still apply.
/// </summary>
public sealed class BsdiffAlgorithm(int level = 19, int workers = 0, long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : BsdiffPartsAlgorithm(maxInputBytes)
{
    public const string AlgorithmName = "bsdiff";

    /// <summary>The most it can take: the suffix array uses 32-bit positions.</summary>
    public const long MaxInputBytes = int.MaxValue / 2;

    private const byte SplitLayout = 2;
    private const int MaxWindowLog = 22;
    private const string What = "bsdiff delta";

    public override string Name => AlgorithmName;
    public override string MediaType => "application/vnd.doras.delta.bsdiff+zstd";

    /// <summary>
    /// Gives way to bsdiff-lzma, which codes the same records with LZMA2: bsdiff came out 10-13 % larger on the npm
    /// executables (on synthetic edits of random bytes up to 2.7 %, 61 bytes, smaller: zstd stores incompressible
    /// bytes a little tighter).
    /// </summary>
    public override DeltaAlgorithmProfile Profile { get; } = new() { BytesPerSecond = 3e6, AutoOrder = 3, LeftOut = Outclassed.Always };

    /// <summary>The match scan of large versions runs on up to this many cores (holding the records of all parts but the first in memory).</summary>
    internal static int ScanParallelism => Math.Min(Environment.ProcessorCount, 4);

    public override async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        using var versions = await ReadVersionsAsync(oldVersion, newVersion, ct).ConfigureAwait(false);
        var (old, @new, doneWith) = (versions.Old, versions.New, versions.DoneWithNew);
        var (control, diff, extra) = (new MemoryStream(), new MemoryStream(), new MemoryStream());
        // The device decodes one part at a time, each in its window: 4 MiB at most (earlier builds used 8 MiB for the
        // diff part, which devices still accept). On esbuild's diff part 4 MiB came out 139 bytes smaller, 16 % less CPU.
        var options = WrappedStream.CompressionFor(newVersion.Size, level, workers);
        options = options with { WindowLog = Math.Min(options.WindowLog, MaxWindowLog) };
        // Control and extra are spooled raw and compressed after the scan, each with its length pledged, so zstd sizes its
        // tables to the part: three level-19 encoders sized to the new version were most of the build's memory (above the
        // process: typescript 173 -> 76 MiB, esbuild 211 -> 113 MiB; typescript's CPU 0.90 -> 0.55 s, the tables' page
        // faults; 2-4 bytes more, the lengths). The diff part, as long as the matched bytes, streams.
        await using var rawControl = WrappedStream.NewSpool(WrappedStream.SpoolDirectoryFor(newVersion), "bsdiff-control");
        await using var rawExtra = WrappedStream.NewSpool(WrappedStream.SpoolDirectoryFor(newVersion), "bsdiff-extra");
        await using (var diffEncoder = new ZstdEncoderStream(diff, options, leaveOpen: true))
        {
            // The suffix sort recurses; a thread with a roomy stack keeps pathological inputs from overflowing it.
            await WrappedStream.RunWithLargeStackAsync(() => BsdiffDelta.Write(old, @new, new BsdiffDelta.Parts(rawControl, diffEncoder, rawExtra), ScanParallelism, doneWith: doneWith, ct: ct), ct).ConfigureAwait(false);
            await diffEncoder.FinishAsync(ct).ConfigureAwait(false);
        }
        await WrappedStream.CompressAsync(rawControl, control, options, ct).ConfigureAwait(false);
        await WrappedStream.CompressAsync(rawExtra, extra, options, ct).ConfigureAwait(false);
        await WriteAsync(delta, oldVersion, newVersion, [SplitLayout], control, extra, diff, ct).ConfigureAwait(false);
    }

    protected override async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var targetSize = expected?.Size ?? header?.TargetSize ?? long.MaxValue;
        var layout = remainder.ReadByte();
        if (layout != SplitLayout)
        {
            // The earlier layout: one zstd frame of the interleaved record stream.
            Stream interleaved = layout < 0 ? remainder : new ConcatenatedReadStream(new MemoryStream([(byte)layout]), remainder);
            await WrappedStream.DecodeAsync(interleaved, targetSize, records => BsdiffDelta.ApplyAsync(oldVersion.Path, records, output, targetSize, ct), ct).ConfigureAwait(false);
            return;
        }
        try
        {
            var options = new ZstdDecompressionOptions { WindowLogMax = 24, MaxOutputBytes = SplitPartsApply.MaxPartBytes(targetSize) };
            await SplitPartsApply.ApplyAsync(oldVersion.Path, remainder, (part, _) => new ZstdDecoderStream(part, options, leaveOpen: true),
                output, targetSize, spoolDirectory, What, ct).ConfigureAwait(false);
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }
}

/// <summary>What the algorithms that store a zstd-compressed stream of their own share.</summary>
internal static class WrappedStream
{
    /// <summary>
    /// A window of at most 8 MiB: the device's decoder allocates it, so it must not grow with the artifact, and the
    /// device's private memory stays within 16 MiB. Decoders accept up to 16 MiB, as earlier deltas used. The stream
    /// is about the new version's <paramref name="size"/> or less, which sizes zstd's tables (a 4-byte pair's bsdiff
    /// build took 206 MB for its three encoders' level-19 tables without it, 40 MB with it).
    /// </summary>
    public static ZstdCompressionOptions CompressionFor(long size, int level, int workers = 0) =>
        new() { Level = level, WindowLog = Math.Min(ZstdCompressionOptions.WindowLogFor(size), 23), LongDistanceMatching = true, Workers = workers, SizeHint = size };

    /// <summary>
    /// The most of a stream <see cref="WriteFrameAsync"/> holds in memory before it is compressed; more waits in a file (in
    /// the page cache, not the process): a stream as long as the new version would otherwise add itself to the tables.
    /// </summary>
    public const int SpoolMemoryBytes = 1 << 20;

    /// <summary>
    /// What <paramref name="produce"/> writes, as one zstd frame on <paramref name="delta"/>. The stream is spooled first
    /// (<see cref="Spool"/>, past <see cref="SpoolMemoryBytes"/> in a file of <paramref name="spoolDirectory"/>) and
    /// compressed with its length pledged, so zstd sizes its level-19 tables to the stream, not to the new version: a
    /// patch release's stream is a fraction of it (tardiff on prettier's 8.5 MB tar: a 1.4 MB stream, 130 -> 74 MiB of
    /// build memory; Octodiff on typescript's 9.1 MB: 84 -> 3 MiB, 0.46 -> 0.14 s CPU; a few bytes more each, the length).
    /// </summary>
    public static async Task WriteFrameAsync(Stream delta, string spoolDirectory, string name, int level, int workers, Func<Stream, Task> produce, CancellationToken ct)
    {
        await using var spool = NewSpool(spoolDirectory, name);
        await produce(spool).ConfigureAwait(false);
        await CompressAsync(spool, delta, CompressionFor(spool.Length, level, workers), ct).ConfigureAwait(false);
    }

    /// <summary>A build's spool (<see cref="SpoolMemoryBytes"/> in memory); beside a read-only version, in the temporary directory.</summary>
    public static Spool NewSpool(string directory, string name) => new(directory, name, SpoolMemoryBytes, elseTemporary: true);

    /// <summary>The spool's bytes as one zstd frame on <paramref name="output"/>, their length pledged (zstd fits its window and tables to them).</summary>
    public static async Task CompressAsync(Spool spool, Stream output, ZstdCompressionOptions options, CancellationToken ct)
    {
        spool.Position = 0;
        await using var encoder = new ZstdEncoderStream(output, options with { PledgedSize = spool.Length }, leaveOpen: true);
        await spool.CopyToAsync(encoder, 1 << 16, ct).ConfigureAwait(false);
        await encoder.FinishAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The directory beside a version's file, where a build's spool waits: the server's work directory (a user's, for `doras-delta`).</summary>
    public static string SpoolDirectoryFor(DeltaInput version) => Path.GetDirectoryName(Path.GetFullPath(version.Path))!;

    /// <summary>Decodes the compressed stream and hands it to <paramref name="apply"/>, checking the size produced.</summary>
    public static async Task DecodeAsync(Stream compressed, long targetSize, Func<Stream, Task<long>> apply, CancellationToken ct)
    {
        try
        {
            // The inner stream is at most the target plus a few bytes per command; far more is a bomb.
            var limit = SplitPartsApply.MaxPartBytes(targetSize);
            await using var raw = new ZstdDecoderStream(compressed, new ZstdDecompressionOptions { WindowLogMax = 24, MaxOutputBytes = limit }, leaveOpen: true);
            var produced = await apply(raw).ConfigureAwait(false);
            if (targetSize != long.MaxValue && produced != targetSize)
                throw new CorruptDeltaException($"delta produced {produced} bytes, expected {targetSize}");
            ct.ThrowIfCancellationRequested();
        }
        catch (ZstdException e)
        {
            throw new CorruptDeltaException($"delta cannot be applied: {e.Message}", e);
        }
    }

    public static async Task<T> RunWithLargeStackAsync<T>(Func<T> work, CancellationToken ct)
    {
        T result = default!;
        await RunWithLargeStackAsync(() => { result = work(); }, ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a thread of its own and returns when it has ended, also when
    /// <paramref name="ct"/> is cancelled: the work reads memory its callers free once this returns (mapped versions),
    /// so it is never left running. It should watch <paramref name="ct"/> itself to end soon.
    /// </summary>
    public static async Task RunWithLargeStackAsync(Action work, CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { work(); done.SetResult(); }
            catch (Exception e) { done.SetException(e); }
        }, maxStackSize: 256 << 20) { IsBackground = true, Name = "delta build" };
        thread.Start();
        try { await done.Task.WaitAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !done.Task.IsCompleted)
        {
            // Its own failure, if any, is observed here: the cancellation is what the caller hears of.
            await ((Task)done.Task).ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }
    }
}

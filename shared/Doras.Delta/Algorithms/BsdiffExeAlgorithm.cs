using Doras.Delta.Artifacts;
using Doras.Delta.Bsdiff;
using Doras.Delta.Executables;
using Doras.Delta.Lzma;

namespace Doras.Delta.Algorithms;

/// <summary>
/// bsdiff-lzma for executables: the differences of each match are taken from its prediction
/// (<see cref="ReferencePrediction"/>), in which every call, jump and address of the old code names where its target
/// went, so code that moved costs almost nothing. For 64-bit little-endian ELF files of x86-64 or ARM64 (Linux
/// executables, shared libraries, Node modules); anything else is refused, so <c>auto</c> picks another.
/// Format: the delta header, a format byte (1), the instruction set (1 x86-64, 2 ARM64), the address layouts of the
/// old and new versions (<see cref="AddressLayout"/>), then the parts as <see cref="LzmaParts"/> lays them out.
/// The device reads the control part once for the list of matches before applying (at most
/// <see cref="MaxMatches"/>, held in memory).
/// </summary>
public sealed class BsdiffExeAlgorithm(long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : BsdiffPartsAlgorithm(maxInputBytes)
{
    public const string AlgorithmName = "bsdiff-exe";

    /// <summary>
    /// The most matches a delta may have: the device holds 28 bytes each while applying (<see cref="MatchMap"/>), and
    /// about 60 more while reading them, before its diff decoder allocates its window. The npm executables need a few thousand.
    /// </summary>
    public const int MaxMatches = 1 << 16;

    private const byte Format = 1;
    private const string What = "bsdiff-exe delta";
    private const string NotForThese = "bsdiff-exe makes deltas between 64-bit ELF files of one instruction set, x86-64 or ARM64";

    public override string Name => AlgorithmName;
    public override string MediaType => "application/vnd.doras.delta.bsdiff-exe+lzma2";

    /// <summary>
    /// The strongest (runs of 2026-11-28, afternoon): 27-35 % smaller than bsdiff-lzma on the npm executables, x64
    /// and ARM64. Built early in <c>auto</c>: it refuses all but ELF files as soon as it has read them. Devices need liblzma.
    /// </summary>
    public override DeltaAlgorithmProfile Profile { get; } = new()
    {
        Description = "x86-64 and ARM64 ELF files", AppliesHere = LzmaLibrary.IsAvailable, BytesPerSecond = 3e6, AutoOrder = 1, OutclassingStrength = 2,
    };

    public override async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        Lzma2.EnsureAvailable(); // before reading the versions: no scan is wasted where the system has no liblzma
        if (!await IsElfAsync(oldVersion.Path, ct).ConfigureAwait(false) || !await IsElfAsync(newVersion.Path, ct).ConfigureAwait(false))
            throw new IncompatibleArtifactException(NotForThese); // before reading either whole
        var versions = await ReadVersionsAsync(oldVersion, newVersion, ct).ConfigureAwait(false);
        var (oldImage, newImage) = (ElfImage.TryRead(versions.Old), ElfImage.TryRead(versions.New));
        if (oldImage is not { } old || newImage is not { } @new || old.Set != @new.Set)
            throw new IncompatibleArtifactException(NotForThese);
        var parts = await WrappedStream.RunWithLargeStackAsync(() =>
        {
            // The device holds every match: past the bound the scan stops early and auto goes on to bsdiff-lzma.
            var matches = MatchScan.Find(versions.Old, versions.New, BsdiffAlgorithm.ScanParallelism, maxMatches: MaxMatches, ct: ct);
            // The prediction reads the old version through `versions`, so releasing them frees it.
            return LzmaParts.Encode(versions, matches,
                found => new ReferencePrediction(old.Set, old.Layout, @new.Layout, found, (position, into) => Read(versions.Old, position, into)), ct);
        }, ct).ConfigureAwait(false);
        var head = new MemoryStream();
        head.WriteByte(Format);
        head.WriteByte((byte)old.Set);
        old.Layout.Write(head);
        @new.Layout.Write(head);
        head.Write(parts.DictionaryLogs);
        await WriteAsync(delta, oldVersion, newVersion, head.ToArray(), parts.Control, parts.Extra, parts.Diff, ct).ConfigureAwait(false);
    }

    protected override async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder) = await LzmaParts.ReadHeadAsync(oldVersion, delta, expected, AlgorithmName, Format, What, ct).ConfigureAwait(false);
        var set = remainder.ReadByte();
        if (set < 0) throw new CorruptDeltaException($"{What} is truncated");
        if (!Enum.IsDefined((InstructionSet)set)) throw new CorruptDeltaException($"{What} is for instruction set {set}, which this build does not know");
        var (oldLayout, newLayout) = (AddressLayout.Read(remainder), AddressLayout.Read(remainder));
        await LzmaParts.ApplyAsync(oldVersion.Path, remainder, output, expected?.Size ?? header.TargetSize, spoolDirectory, What,
            new PredictionFactory((InstructionSet)set, oldLayout, newLayout), ct).ConfigureAwait(false);
    }

    private static async Task<bool> IsElfAsync(string path, CancellationToken ct)
    {
        var magic = new byte[4];
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
        return await file.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false) == magic.Length && magic.AsSpan().SequenceEqual("\u007fELF"u8);
    }

    private static int Read(byte[] old, long position, Span<byte> into)
    {
        if (position >= old.Length) return 0;
        var n = (int)Math.Min(into.Length, old.Length - position);
        old.AsSpan((int)position, n).CopyTo(into);
        return n;
    }

    private sealed class PredictionFactory(InstructionSet set, AddressLayout old, AddressLayout @new) : MatchPredictionFactory
    {
        public override int MaxMatches => BsdiffExeAlgorithm.MaxMatches;

        public override IMatchPrediction Create(IReadOnlyList<BsdiffMatch> matches, OldBytesReader read) => new ReferencePrediction(set, old, @new, matches, read);
    }
}

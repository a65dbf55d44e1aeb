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
/// Format: the delta header, a format byte, the instruction set (1 x86-64, 2 ARM64), the address layouts of the
/// old and new versions (<see cref="AddressLayout"/>), in format 2 how many matches the prediction maps (a varint),
/// then the parts as <see cref="LzmaParts"/> lays them out. The device reads the control part once, as a stream, for
/// the matches its prediction maps (<see cref="MappedMatches"/>), before applying. Format 1 maps every match and
/// has at most <see cref="MaxMappedMatches"/>; format 2 (versions that need more matches) maps the longest ones,
/// so versions of any size apply with the map's memory bounded. The builder writes format 1 whenever it suffices,
/// so devices that know only format 1 keep reading the deltas of executables they could read before.
/// </summary>
public sealed class BsdiffExeAlgorithm : BsdiffPartsAlgorithm
{
    public const string AlgorithmName = "bsdiff-exe";

    /// <summary>
    /// The most matches a prediction maps: the device holds 28 bytes each while applying (<see cref="MatchMap"/>), and
    /// about 60 more while choosing them, before its diff decoder allocates its window. The npm executables of
    /// 10 MB need a few thousand matches; biome 2.6.7 -> 2.6.8 (98 MB, x64) needs 321,491, and its delta with the
    /// 65,536 longest mapped is 6,424,899 bytes against 6,346,193 with every match mapped (1.2 % more; bsdiff-lzma
    /// 8,650,200, hdiffz lzma2 7,944,624), measured 2026-12-06.
    /// </summary>
    public const int MaxMappedMatches = 1 << 16;

    /// <summary>Format 1: every match mapped, at most <see cref="MaxMappedMatches"/> of them.</summary>
    private const byte EveryMatchMapped = 1;

    /// <summary>
    /// Format 2: the head says how many of the longest matches are mapped (1 to <see cref="MaxMappedMatches"/>), and
    /// every record after the first makes a byte or more, so the device's work is bounded by its target's size.
    /// </summary>
    private const byte LongestMapped = 2;

    private const string What = "bsdiff-exe delta";
    private const string NotForThese = "bsdiff-exe makes deltas between 64-bit ELF files of one instruction set, x86-64 or ARM64";

    private readonly int _mappedMatches;

    public BsdiffExeAlgorithm(long maxInputBytes = BsdiffAlgorithm.MaxInputBytes) : this(maxInputBytes, MaxMappedMatches)
    {
    }

    /// <param name="mappedMatches">How many matches the builder maps at most (fewer than the device allows reach format 2 with small versions, as tests do).</param>
    public BsdiffExeAlgorithm(long maxInputBytes, int mappedMatches) : base(maxInputBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mappedMatches, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mappedMatches, MaxMappedMatches);
        _mappedMatches = mappedMatches;
    }

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
        using var versions = await ReadVersionsAsync(oldVersion, newVersion, ct).ConfigureAwait(false);
        var (oldImage, newImage) = (ElfImage.TryRead(versions.Old), ElfImage.TryRead(versions.New.Span));
        if (oldImage is not { } old || newImage is not { } @new || old.Set != @new.Set)
            throw new IncompatibleArtifactException(NotForThese);
        var format = EveryMatchMapped;
        var parts = await WrappedStream.RunWithLargeStackAsync(() =>
        {
            var matches = WithoutEmptyRecords(versions.Scan(ct));
            if (matches.Count > _mappedMatches) format = LongestMapped;
            // The prediction reads the old version through `versions`, so releasing them frees it.
            return LzmaParts.Encode(versions, matches, found => new ReferencePrediction(old.Set, old.Layout, @new.Layout,
                MappedMatches.Choose(found, _mappedMatches), (position, into) => Read(versions.Old, position, into)), ct);
        }, ct).ConfigureAwait(false);
        var head = new MemoryStream();
        head.WriteByte(format);
        head.WriteByte((byte)old.Set);
        old.Layout.Write(head);
        @new.Layout.Write(head);
        if (format == LongestMapped) Varint.Write(head, _mappedMatches);
        head.Write(parts.DictionaryLogs);
        await WriteAsync(delta, oldVersion, newVersion, head.ToArray(), parts.Control, parts.Extra, parts.Diff, ct).ConfigureAwait(false);
    }

    protected override async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct)
    {
        var (header, remainder, format) = await LzmaParts.ReadHeadAsync(oldVersion, delta, expected, AlgorithmName, [EveryMatchMapped, LongestMapped], What, ct)
            .ConfigureAwait(false);
        var set = remainder.ReadByte();
        if (set < 0) throw new CorruptDeltaException($"{What} is truncated");
        if (!Enum.IsDefined((InstructionSet)set)) throw new CorruptDeltaException($"{What} is for instruction set {set}, which this build does not know");
        var (oldLayout, newLayout) = (AddressLayout.Read(remainder), AddressLayout.Read(remainder));
        var mapped = format == LongestMapped ? Varint.ReadLength(remainder, What) : MaxMappedMatches;
        if (mapped is < 1 or > MaxMappedMatches)
            throw new CorruptDeltaException($"{What} asks to map {mapped} matches; 1 to {MaxMappedMatches} are allowed");
        await LzmaParts.ApplyAsync(oldVersion.Path, remainder, output, expected?.Size ?? header.TargetSize, spoolDirectory, What,
            new PredictionFactory((InstructionSet)set, oldLayout, newLayout, format, (int)mapped), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The matches less the records after the first that make no bytes (the scan can end one match where the next
    /// begins): format 2 forbids them, and dropping one only moves the previous record's adjustment on to the next.
    /// The first stays: the device starts at old position 0, where the scan's first match starts.
    /// </summary>
    private static List<BsdiffMatch> WithoutEmptyRecords(List<BsdiffMatch> matches)
    {
        var kept = new List<BsdiffMatch>(matches.Count);
        for (var k = 0; k < matches.Count; k++)
            if (k == 0 || matches[k].Length + matches[k].ExtraLength > 0) kept.Add(matches[k]);
        return kept;
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

    /// <summary>The device's side of the format's rules on matches, checked while choosing the mapped ones, before any output.</summary>
    private sealed class PredictionFactory(InstructionSet set, AddressLayout old, AddressLayout @new, byte format, int mapped) : MatchPredictionFactory
    {
        public override IMatchPrediction Create(IEnumerable<BsdiffMatch> matches, OldBytesReader read)
        {
            // Format 2 is written only for versions with more matches than it maps: its heap fills.
            var chosen = new MappedMatches(mapped, expected: format == LongestMapped ? mapped : 1024);
            long count = 0;
            foreach (var match in matches)
            {
                if (format == EveryMatchMapped && count == MaxMappedMatches)
                    throw new CorruptDeltaException($"{What} of format 1 has more than {MaxMappedMatches} matches, more than a prediction may hold");
                if (format == LongestMapped && count > 0 && match.Length + match.ExtraLength == 0)
                    throw new CorruptDeltaException($"{What} has a record after its first that makes no bytes");
                chosen.Add(match);
                count++;
            }
            return new ReferencePrediction(set, old, @new, chosen.ToList(), read);
        }
    }
}

using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Bsdiff;
using Doras.Delta.Executables;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>
/// bsdiff-exe on executables linked like a real toolchain's (<see cref="SyntheticElf"/>): a next version that moves
/// code and data and relinks every reference applies byte for byte and costs far less than bsdiff-lzma; the device,
/// which predicts in 64 KiB pieces, agrees with the builder, which predicts each match whole; hostile deltas are
/// refused with a clear error before any output is left; inputs that are no ELF of one instruction set are refused.
/// </summary>
public class BsdiffExeTests
{
    private static readonly BsdiffExeAlgorithm Exe = new();
    private static readonly BsdiffLzmaAlgorithm Lzma = new();

    public sealed record Pair(DeltaInput Old, DeltaInput New, byte[] OldBytes, byte[] NewBytes)
    {
        public DeltaTarget Target => new(New.Digest, New.Size);
    }

    public static Pair Write(TempDirectory dir, byte[] old, byte[] @new, string name = "")
    {
        return new Pair(new DeltaInput(dir.Write($"old{name}", old), Digest.Compute(old), old.Length),
            new DeltaInput(dir.Write($"new{name}", @new), Digest.Compute(@new), @new.Length), old, @new);
    }

    public static byte[] Encode(IDeltaAlgorithm algorithm, Pair pair)
    {
        var delta = new MemoryStream();
        algorithm.EncodeAsync(pair.Old, pair.New, delta).GetAwaiter().GetResult();
        return delta.ToArray();
    }

    /// <summary>Applies into a new file as the device does and checks the file's digest and bytes.</summary>
    public static void AssertAppliesExactly(TempDirectory dir, Pair pair, byte[] delta)
    {
        var output = dir[$"out-{Guid.NewGuid():N}"];
        Exe.ApplyToFileAsync(pair.Old, new MemoryStream(delta), output, pair.Target).GetAwaiter().GetResult();
        var written = File.ReadAllBytes(output);
        Assert.That(Digest.Compute(written), Is.EqualTo(pair.New.Digest), "the output's digest is the target's");
        Assert.That(written, Is.EqualTo(pair.NewBytes));

        // The device's own path: the output built in place in the digesting file's buffers, hashed as it is written.
        var digesting = dir[$"out-{Guid.NewGuid():N}"];
        var (digest, size) = Exe.ApplyToFileDigestingAsync(pair.Old, new MemoryStream(delta), digesting, pair.Target).GetAwaiter().GetResult();
        Assert.That((digest, size), Is.EqualTo((pair.New.Digest, pair.New.Size)), "the digest of what was written is the target's");
        Assert.That(File.ReadAllBytes(digesting), Is.EqualTo(pair.NewBytes));
    }

    /// <summary>
    /// Measured (the cases below, in order): bsdiff-lzma 29,829 / 31,591 / 28,783 / 33,811 bytes, bsdiff-exe 8,622 /
    /// 9,315 / 9,370 / 12,763 (0.29, 0.29, 0.33, 0.38 of it). Most of what is left is the new functions' code,
    /// which no delta can predict. A prediction that found nothing would give about 1.0.
    /// </summary>
    [TestCase(InstructionSet.X64, 1, 2)]
    [TestCase(InstructionSet.X64, 3, 3)]
    [TestCase(InstructionSet.Arm64, 1, 2)]
    [TestCase(InstructionSet.Arm64, 3, 1)]
    public void A_relinked_version_round_trips_and_costs_far_less_than_bsdiff_lzma(InstructionSet set, int seed, int segments)
    {
        using var dir = new TempDirectory();
        var program = SyntheticElf.Random(set, seed, functions: 700, data: 400, new SyntheticElf.Layout(0x400000, 0x600000, segments, 0x4000));
        var next = program.Next(seed + 100, edits: 40, bssGrowth: 0x100);
        var pair = Write(dir, program.Link(), next.Link());
        Assert.That(pair.OldBytes, Has.Length.GreaterThan(200_000), "large enough that moved code dominates");

        var exe = Encode(Exe, pair);
        var lzma = Encode(Lzma, pair);
        AssertAppliesExactly(dir, pair, exe);
        TestContext.Out.WriteLine($"{set} {segments} segments: {pair.OldBytes.Length} -> {pair.NewBytes.Length} bytes; bsdiff-lzma {lzma.Length}, bsdiff-exe {exe.Length} ({(double)exe.Length / lzma.Length:F2})");
        Assert.That(exe.Length, Is.LessThanOrEqualTo(lzma.Length * 0.5), "bsdiff-exe sends at most half of bsdiff-lzma's bytes");
    }

    [Test]
    public void An_unchanged_executable_is_a_small_delta_that_applies()
    {
        using var dir = new TempDirectory();
        var bytes = SyntheticElf.Random(InstructionSet.Arm64, 5, 100, 50).Link();
        var pair = Write(dir, bytes, bytes);
        var delta = Encode(Exe, pair);
        AssertAppliesExactly(dir, pair, delta);
        Assert.That(delta.Length, Is.LessThan(400));
    }

    /// <summary>
    /// Versions that need more matches than the device maps are built in format 2 (only the longest matches mapped)
    /// and apply byte for byte: builder and device choose the same matches, so they predict alike. With a map of 16
    /// matches the relinked program still costs well under bsdiff-lzma and more than with every match mapped (measured:
    /// x64 10,933 bytes, every match mapped 4,688, bsdiff-lzma 28,460; ARM64 12,070, 4,929, 27,870).
    /// </summary>
    [TestCase(InstructionSet.X64)]
    [TestCase(InstructionSet.Arm64)]
    public void Versions_needing_more_matches_than_the_map_holds_apply_with_the_longest_mapped(InstructionSet set)
    {
        using var dir = new TempDirectory();
        var program = SyntheticElf.Random(set, 7, functions: 700, data: 400, new SyntheticElf.Layout(0x400000, 0x600000, 2, 0x4000));
        var pair = Write(dir, program.Link(), program.Next(107, edits: 40).Link());
        var small = Encode(new BsdiffExeAlgorithm(BsdiffAlgorithm.MaxInputBytes, mappedMatches: 16), pair);
        var every = Encode(Exe, pair);
        Assert.That(BsdiffExeHostileTests.Body.Parse(small).Parts.Format, Is.EqualTo(2), "format 2: the longest matches mapped");
        Assert.That(BsdiffExeHostileTests.Body.Parse(every).Parts.Format, Is.EqualTo(1), "format 1 whenever every match fits the map");
        AssertAppliesExactly(dir, pair, small);
        Assert.That(small.Length, Is.GreaterThan(every.Length));
        Assert.That(small.Length, Is.LessThan(Encode(Lzma, pair).Length / 2));
    }

    /// <summary>
    /// A pair needing more than <see cref="BsdiffExeAlgorithm.MaxMappedMatches"/> matches (before: refused, so auto
    /// fell back to bsdiff-lzma): an ELF file followed by 2.3 MB of random bytes, whose next version holds those
    /// bytes cut in 32-byte pieces and shuffled, so each piece is a match of its own. It builds in format 2 and
    /// applies byte for byte.
    /// </summary>
    [Test]
    public void Versions_needing_more_than_65536_matches_build_and_apply()
    {
        using var dir = new TempDirectory();
        var elf = SyntheticElf.Random(InstructionSet.X64, 9, functions: 50, data: 20).Link();
        const int Piece = 32, Pieces = BsdiffExeAlgorithm.MaxMappedMatches + 6000;
        var random = new Random(9);
        var tail = new byte[Piece * Pieces];
        random.NextBytes(tail);
        var order = Enumerable.Range(0, Pieces).ToArray();
        random.Shuffle(order);
        var shuffled = order.SelectMany(i => tail.AsSpan(i * Piece, Piece).ToArray()).ToArray();
        var pair = Write(dir, [.. elf, .. tail], [.. elf, .. shuffled]);
        var matches = MatchScan.Find(pair.OldBytes, pair.NewBytes, parallelism: 2);
        Assert.That(matches, Has.Count.GreaterThan(BsdiffExeAlgorithm.MaxMappedMatches));

        var delta = Encode(Exe, pair);
        Assert.That(BsdiffExeHostileTests.Body.Parse(delta).Parts.Format, Is.EqualTo(2));
        AssertAppliesExactly(dir, pair, delta);
    }

    /// <summary>
    /// The first data object moves to the end of the data, so every other one moves down and every data reference
    /// of the code changes, while the headers and the code's place stay: the code is one match from the file's
    /// start, far longer than 64 KiB, predicted exactly. The device predicts it in 64 KiB pieces (its buffer, and
    /// its 256 KiB read window filled from the match's start); with every instruction a reference, many piece
    /// boundaries cut through one.
    /// </summary>
    [TestCase(InstructionSet.X64)]
    [TestCase(InstructionSet.Arm64)]
    public void References_cut_by_the_devices_64_KiB_pieces_are_predicted_as_the_builder_predicts_them(InstructionSet set)
    {
        using var dir = new TempDirectory();
        var program = SyntheticElf.Random(set, 21, functions: 2500, data: 300, new SyntheticElf.Layout(0x400000, 0x600000, 2, 0x2000)) with { Dense = true };
        var pair = Write(dir, program.Link(), DataRotated(program).Link());
        var code = MatchScan.Find(pair.OldBytes, pair.NewBytes)[0];
        Assert.That((code.OldStart, code.NewStart), Is.EqualTo((0L, 0L)));
        Assert.That(code.Length, Is.GreaterThan(8 << 16), "the code is one match over several pieces");

        var codec = ReferenceCodec.For(set);
        var (cut, boundaries) = (0, 0);
        for (var boundary = 1 << 16; boundary < code.Length - 16; boundary += 1 << 16, boundaries++)
            if (Enumerable.Range(boundary - ReferenceCodec.MaxWidth + 1, ReferenceCodec.MaxWidth - 1).Any(start => CutBy(codec, pair.OldBytes, start, boundary))) cut++;
        TestContext.Out.WriteLine($"{cut} of {boundaries} piece boundaries cut through a reference");
        Assert.That(cut, Is.GreaterThanOrEqualTo(boundaries / 4), $"{cut} of {boundaries} boundaries cut through a reference");

        var exe = Encode(Exe, pair);
        AssertAppliesExactly(dir, pair, exe);
        Assert.That(exe.Length, Is.LessThan(Encode(Lzma, pair).Length / 4), "every data reference was predicted");
    }

    /// <summary>The program with its first data object moved to the end: the data's size, and so the headers, stay.</summary>
    private static SyntheticElf.Program DataRotated(SyntheticElf.Program program) => program with { Data = [.. program.Data.Skip(1), program.Data[0]] };

    /// <summary>Whether a reference starting at <paramref name="start"/> runs over <paramref name="boundary"/>.</summary>
    private static bool CutBy(ReferenceCodec codec, byte[] file, int start, int boundary)
    {
        var window = file.AsSpan(start - ReferenceCodec.Lookbehind, ReferenceCodec.Lookbehind + 2 * ReferenceCodec.MaxWidth);
        return start % codec.Step == 0 && codec.TryDecode(window, ReferenceCodec.Lookbehind, 16, out var reference) && start + reference.Width > boundary;
    }

    /// <summary>
    /// A reference cut by two piece boundaries: an ADRP+ADD pair at 256 KiB - 4 of a match read from the file's
    /// start, whose first byte alone the new version changes (so a run of the diff ends one byte later) and whose
    /// ADD names a moved datum. The device then predicts the pair in three pieces: 1 byte (the end of the run), 3
    /// bytes (up to the end of its 256 KiB read window) and the ADD (after the window is refilled).
    /// </summary>
    [Test]
    public void A_reference_cut_by_two_piece_boundaries_is_predicted_as_the_builder_predicts_it()
    {
        const int Window = 256 << 10, At = Window - 4;
        using var dir = new TempDirectory();
        var arm64 = new Arm64References();
        // The first program (by seed) with an ADRP+ADD or ADRP+LDR pair at that place whose prediction changes the ADD.
        var (old, @new, match) = Enumerable.Range(1, 200).Select(seed =>
        {
            var program = SyntheticElf.Random(InstructionSet.Arm64, seed, functions: 1200, data: 300, new SyntheticElf.Layout(0x400000, 0x600000, 2, 0x2000)) with { Dense = true };
            var (old, @new) = (program.Link(), DataRotated(program).Link());
            if (!arm64.TryDecode(old.AsSpan(At - ReferenceCodec.Lookbehind), ReferenceCodec.Lookbehind, 8, out var pairAt) || pairAt.Width != 8) return default;
            var match = MatchScan.Find(old, @new)[0];
            return match.OldStart == 0 && match.NewStart == 0 && match.Length > Window + (1 << 16)
                && !old.AsSpan(Window, 4).SequenceEqual(@new.AsSpan(Window, 4)) ? (old, @new, match) : default;
        }).First(found => found.old is not null);
        @new[At] ^= 0x01; // the ADRP's register: only its first byte differs from the prediction

        var pair = Write(dir, old, @new);
        Assert.That(MatchScan.Find(old, @new)[0], Is.EqualTo(match), "the same match");
        AssertAppliesExactly(dir, pair, Encode(Exe, pair));
    }

    [Test]
    public void Versions_that_are_no_elf_or_of_two_instruction_sets_are_refused()
    {
        using var dir = new TempDirectory();
        var x64 = SyntheticElf.Random(InstructionSet.X64, 1, 20, 10).Link();
        var arm64 = SyntheticElf.Random(InstructionSet.Arm64, 1, 20, 10).Link();
        var notElf = TestData.Binary(50_000, 3);
        const string Message = "bsdiff-exe makes deltas between 64-bit ELF files of one instruction set, x86-64 or ARM64";
        foreach (var (name, old, @new) in new[] { ("not elf", notElf, TestData.Edit(notElf, 4)), ("x64 -> arm64", x64, arm64), ("elf -> not elf", x64, notElf), ("not elf -> elf", notElf, arm64) })
        {
            var pair = Write(dir, old, @new, name.Replace(' ', '-'));
            var error = Assert.ThrowsAsync<IncompatibleArtifactException>(() => Exe.EncodeAsync(pair.Old, pair.New, new MemoryStream()), name).GetAwaiter().GetResult();
            Assert.That(error!.Message, Is.EqualTo(Message), name);
        }
    }
}

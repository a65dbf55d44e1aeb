using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Delta.Executables;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>
/// bsdiff-exe's parser against hostile deltas: each is refused with a clear <see cref="CorruptDeltaException"/>
/// and leaves no output file behind.
/// </summary>
public class BsdiffExeHostileTests
{
    private static readonly BsdiffExeAlgorithm Exe = new();

    /// <summary>
    /// A bsdiff-exe delta taken apart: the instruction set, the two address layouts (as written) and, in format 2, how
    /// many matches are mapped (a varint, as written) follow the format byte; the rest is laid out as bsdiff-lzma's
    /// (<see cref="BsdiffLzmaTests.Body"/>: dictionary logs, part lengths, parts).
    /// </summary>
    public sealed record Body(BsdiffLzmaTests.Body Parts, byte Set, byte[] Layouts, byte[] Mapped)
    {
        public static Body Parse(byte[] delta)
        {
            var stream = new MemoryStream(delta);
            var (_, unconsumed) = DeltaHeader.ReadAsync(stream, CancellationToken.None).GetAwaiter().GetResult();
            var formatAt = (int)stream.Position - unconsumed.Length;
            stream.Position = formatAt + 2;
            AddressLayout.Read(stream);
            AddressLayout.Read(stream);
            var layoutsEnd = (int)stream.Position;
            if (delta[formatAt] == 2) while ((stream.ReadByte() & 0x80) != 0) { }
            var mappedEnd = (int)stream.Position;
            return new Body(BsdiffLzmaTests.Body.Parse([.. delta[..(formatAt + 1)], .. delta[mappedEnd..]]), delta[formatAt + 1], delta[(formatAt + 2)..layoutsEnd],
                delta[layoutsEnd..mappedEnd]);
        }

        public byte[] ToBytes()
        {
            var lzma = Parts.ToBytes();
            var afterFormat = Parts.Header.Length + 1;
            return [.. lzma[..afterFormat], Set, .. Layouts, .. Mapped, .. lzma[afterFormat..]];
        }

        /// <summary>Bytes from the delta's start to where the parts begin.</summary>
        public int HeadLength => ToBytes().Length - Parts.Control.Length - Parts.Extra.Length - Parts.Diff.Length;
    }

    /// <summary>An address layout as a delta carries it (count, then offset, address, file size, memory size of each).</summary>
    private static byte[] Layout(params LoadSegment[] segments)
    {
        var bytes = new MemoryStream();
        new AddressLayout(segments).Write(bytes);
        return bytes.ToArray();
    }

    private static readonly byte[] ValidLayout = Layout(new LoadSegment(0, 0x400000, 0x10, 0x10, Executable: true));

    /// <summary>A one-segment <paramref name="layout"/> whose last two bytes (one-byte varints: memory size, flags) are set anew.</summary>
    private static byte[] WithMemoryAndFlags(byte[] layout, byte memorySize, byte flags) => [.. layout[..^2], memorySize, flags];

    private static BsdiffExeTests.Pair MakePair(TempDirectory dir)
    {
        var program = SyntheticElf.Random(InstructionSet.X64, 31, functions: 400, data: 100);
        return BsdiffExeTests.Write(dir, program.Link(), program.Next(32, edits: 10).Link());
    }

    /// <summary>Raw LZMA2 by the xz CLI (an encoder independent of ours) with a 2^20-byte dictionary.</summary>
    private static byte[] Xz(TempDirectory dir, byte[] input)
    {
        var path = dir.Write($"xz-{Guid.NewGuid():N}", input);
        ExternalTool.RunOk("sh", "-c", $"xz -z -c --format=raw --lzma2=preset=6,dict={1 << 20} '{path}' > '{path}.xz'");
        return File.ReadAllBytes(path + ".xz");
    }

    /// <summary>Applies into a new file; the error must be exactly <paramref name="message"/> (a prefix when it ends in *) and no file is left.</summary>
    private static void AssertRefused(TempDirectory dir, DeltaInput old, DeltaTarget target, byte[] delta, string message)
    {
        var output = dir[$"out-{Guid.NewGuid():N}"];
        var error = Assert.ThrowsAsync<CorruptDeltaException>(() => Exe.ApplyToFileAsync(old, new MemoryStream(delta), output, target)).GetAwaiter().GetResult();
        Assert.That(error!.Message, message.EndsWith('*') ? (NUnit.Framework.Constraints.IResolveConstraint)Does.StartWith(message.TrimEnd('*')) : Is.EqualTo(message));
        Assert.That(File.Exists(output), Is.False, "no output file is left");
    }

    public static IEnumerable<TestCaseData> Hostile()
    {
        TestCaseData Case(string name, Func<Body, Body> corrupt, string message) => new TestCaseData(corrupt, message).SetName(name);
        yield return Case("unknown format", b => b with { Parts = b.Parts with { Format = 3 } }, "bsdiff-exe delta has format 3, which this build does not know");
        yield return Case("format 2 mapping no match", b => b with { Parts = b.Parts with { Format = 2 }, Mapped = [0] }, "bsdiff-exe delta asks to map 0 matches; 1 to 65536 are allowed");
        yield return Case("format 2 mapping more matches than a device holds", b => b with { Parts = b.Parts with { Format = 2 }, Mapped = [0x81, 0x80, 0x04] },
            "bsdiff-exe delta asks to map 65537 matches; 1 to 65536 are allowed");
        yield return Case("format 2 claiming 2^62 mapped matches", b => b with { Parts = b.Parts with { Format = 2 }, Mapped = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40] },
            "bsdiff-exe delta asks to map 4611686018427387904 matches; 1 to 65536 are allowed");
        yield return Case("unknown instruction set", b => b with { Set = 3 }, "bsdiff-exe delta is for instruction set 3, which this build does not know");
        yield return Case("instruction set 0", b => b with { Set = 0 }, "bsdiff-exe delta is for instruction set 0, which this build does not know");
        yield return Case("an address layout of 65 segments",
            b => b with { Layouts = [65, .. Layout([.. Enumerable.Range(0, 64).Select(i => new LoadSegment(i * 16L, 0x400000 + i * 16L, 16, 16, Executable: true))])[1..], .. ValidLayout[1..]] },
            "bsdiff-exe delta has an address layout of 65 segments; at most 64 are allowed");
        yield return Case("an address layout claiming 2^62 segments", b => b with { Layouts = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40] },
            "bsdiff-exe delta has an address layout of 4611686018427387904 segments; at most 64 are allowed");
        yield return Case("a segment whose memory is smaller than its file bytes",
            b => b with { Layouts = [.. WithMemoryAndFlags(ValidLayout, 0x0F, 1), .. ValidLayout] },
            "bsdiff-exe delta has a malformed segment in its address layout");
        yield return Case("a segment ending past a quarter of long's range (where sums of its values could overflow)",
            b => b with { Layouts = [.. WithMemoryAndFlags(Layout(new LoadSegment(0, long.MaxValue / 4 - 0x10, 0x10, 0x10, Executable: false)), 0x11, 0), .. ValidLayout] },
            "bsdiff-exe delta has a malformed segment in its address layout");
        yield return Case("a segment with unknown flags", b => b with { Layouts = [.. ValidLayout, .. WithMemoryAndFlags(ValidLayout, 0x10, 2)] },
            "bsdiff-exe delta has a segment with flags 2, which this build does not know");
        yield return Case("a layout value past long's range", b => b with { Layouts = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] },
            "bsdiff-exe delta has a length out of range");
        yield return Case("a dictionary past the device's bound", b => b with { Parts = b.Parts with { DictionaryLogs = [b.Parts.DictionaryLogs[0], 30, b.Parts.DictionaryLogs[2]] } },
            "bsdiff-exe delta asks for an LZMA2 dictionary of 2^30 bytes for its extra part; 2^12 to 2^23 are allowed");
    }

    [TestCaseSource(nameof(Hostile))]
    public void Hostile_deltas_are_refused_with_a_clear_error_and_leave_no_output(Func<Body, Body> corrupt, string message)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var body = Body.Parse(BsdiffExeTests.Encode(Exe, pair));
        Assert.That(body.ToBytes(), Is.EqualTo(BsdiffExeTests.Encode(Exe, pair)), "taken apart and put together again unchanged");
        AssertRefused(dir, pair.Old, pair.Target, corrupt(body).ToBytes(), message);
    }

    [Test]
    public void A_delta_cut_anywhere_in_its_head_is_refused_as_truncated()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var body = Body.Parse(delta);
        var headerLength = body.Parts.Header.Length;
        var (layoutsStart, logsStart) = (headerLength + 2, headerLength + 2 + body.Layouts.Length);
        for (var length = 0; length < body.HeadLength; length++)
        {
            string expected = length switch
            {
                < 8 => "bsdiff-exe delta has no header",
                _ when length < headerLength => "delta is truncated inside its header",
                _ when length < layoutsStart => "bsdiff-exe delta is truncated",
                _ when length < logsStart => "bsdiff-exe delta is truncated inside a record",
                _ when length < logsStart + 3 => "bsdiff-exe delta is truncated",
                _ => "bsdiff-exe delta is truncated inside a record",
            };
            AssertRefused(dir, pair.Old, pair.Target, delta[..length], expected);
        }
    }

    /// <summary>
    /// A delta whose control part is <paramref name="records"/> (records with their runs) and whose target is
    /// <paramref name="target"/>, with no diff or extra bytes, in <paramref name="format"/> (2: mapping
    /// <paramref name="mapped"/> matches), made from a real delta of <paramref name="pair"/> (its layouts).
    /// </summary>
    private static byte[] HandMade(TempDirectory dir, BsdiffExeTests.Pair pair, byte[] records, byte[] target, byte format, int mapped = 0)
    {
        var header = new DeltaHeader(pair.Old.Digest, pair.Old.Size, Digest.Compute(target), target.Length, BsdiffExeAlgorithm.AlgorithmName).ToBytes();
        var template = Body.Parse(BsdiffExeTests.Encode(Exe, pair));
        return (template with
        {
            Parts = template.Parts with { Header = header, Format = format, DictionaryLogs = [20, 20, 20], Control = Xz(dir, records), Extra = Xz(dir, []), Diff = Xz(dir, []) },
            Mapped = format == 2 ? Leb128((ulong)mapped) : [],
        }).ToBytes();
    }

    private static byte[] Leb128(ulong value)
    {
        var bytes = new List<byte>();
        for (; value >= 0x80; value >>= 7) bytes.Add((byte)(value | 0x80));
        bytes.Add((byte)value);
        return [.. bytes];
    }

    /// <summary>Records of <paramref name="matches"/> one-byte matches, each the next old byte unchanged: the target is the old version's first bytes.</summary>
    private static byte[] OneByteMatches(int matches)
    {
        var control = new MemoryStream();
        for (var i = 0; i < matches; i++)
        {
            BsdiffDelta.WriteRecord(control, diffLength: 1, extraLength: 0, adjust: 0);
            control.WriteByte(1); // a run (varints of one byte each): one byte the same,
            control.WriteByte(0); // none differing
        }
        return control.ToArray();
    }

    /// <summary>
    /// Format 1 maps every match, so a device holds them all: a control part of one more than
    /// <see cref="BsdiffExeAlgorithm.MaxMappedMatches"/> tiny matches is refused before anything is applied, while
    /// exactly that many apply. Format 2 maps the longest of them only, so the same records apply.
    /// </summary>
    [TestCase(1, BsdiffExeAlgorithm.MaxMappedMatches, true)]
    [TestCase(1, BsdiffExeAlgorithm.MaxMappedMatches + 1, false)]
    [TestCase(2, BsdiffExeAlgorithm.MaxMappedMatches + 1000, true)]
    public void Format_1_refuses_more_matches_than_a_device_maps_and_format_2_maps_the_longest(byte format, int matches, bool applies)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        Assert.That(pair.OldBytes.Length, Is.GreaterThan(matches));
        var target = pair.OldBytes[..matches];
        var delta = HandMade(dir, pair, OneByteMatches(matches), target, format, mapped: BsdiffExeAlgorithm.MaxMappedMatches);
        var expected = new DeltaTarget(Digest.Compute(target), target.Length);
        if (applies)
        {
            var output = dir["out"];
            Exe.ApplyToFileAsync(pair.Old, new MemoryStream(delta), output, expected).GetAwaiter().GetResult();
            Assert.That(File.ReadAllBytes(output), Is.EqualTo(target));
        }
        else
            AssertRefused(dir, pair.Old, expected, delta, $"bsdiff-exe delta of format 1 has more than {BsdiffExeAlgorithm.MaxMappedMatches} matches, more than a prediction may hold");
    }

    /// <summary>
    /// In format 2 every record after the first makes a byte or more, so a device's work is bounded by its target:
    /// a delta of a million records that make nothing is refused before anything is written.
    /// </summary>
    [Test]
    public void Format_2_refuses_records_that_make_no_bytes()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var control = new MemoryStream();
        control.Write(OneByteMatches(1));
        for (var i = 0; i < 1_000_000; i++) BsdiffDelta.WriteRecord(control, diffLength: 0, extraLength: 0, adjust: 0);
        var target = pair.OldBytes[..1];
        var delta = HandMade(dir, pair, control.ToArray(), target, format: 2, mapped: 16);
        AssertRefused(dir, pair.Old, new DeltaTarget(Digest.Compute(target), target.Length), delta, "bsdiff-exe delta has a record after its first that makes no bytes");
    }

    [Test]
    public void A_delta_for_another_base_is_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var other = (byte[])pair.OldBytes.Clone();
        other[^1] ^= 1;
        var otherInput = new DeltaInput(dir.Write("other", other), Digest.Compute(other), other.Length);
        AssertRefused(dir, otherInput, pair.Target, delta,
            $"delta was made for base {pair.Old.Digest} ({pair.Old.Size} bytes), not for the installed {otherInput.Digest} ({otherInput.Size} bytes)");
    }

    [Test]
    public void A_delta_for_another_target_is_refused()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var wanted = new DeltaTarget(Digest.Compute(pair.OldBytes), pair.OldBytes.Length);
        AssertRefused(dir, pair.Old, wanted, delta, $"delta produces {pair.New.Digest}, not the expected target {wanted.Digest}");
    }
}

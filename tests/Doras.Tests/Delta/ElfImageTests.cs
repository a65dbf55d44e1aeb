using System.Buffers.Binary;
using System.Globalization;
using Doras.Delta.Executables;

namespace Doras.Tests.Delta;

/// <summary>
/// What bsdiff-exe reads of an ELF file: the instruction set and the PT_LOAD segments, as readelf (binutils, an
/// independent parser) shows them for real system libraries and for the test's synthetic executables; hostile
/// headers give no layout or lose only the bad segment, never an exception.
/// </summary>
public class ElfImageTests
{
    /// <summary>The PT_LOAD segments `readelf -lW` (binutils) lists: offset, address, sizes in file and memory, flags (E: code), alignment.</summary>
    private static List<LoadSegment> ReadelfSegments(string path)
    {
        var (code, output) = ExternalTool.Run("readelf", "-lW", path);
        Assert.That(code, Is.Zero, output);
        return [.. output.Split('\n').Select(line => line.Trim()).Where(line => line.StartsWith("LOAD ", StringComparison.Ordinal))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => new LoadSegment(Hex(f[1]), Hex(f[2]), Hex(f[4]), Hex(f[5]), Executable: f[6..^1].Any(flag => flag.Contains('E'))))];
    }

    private static long Hex(string value) => long.Parse(value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [TestCase("/usr/lib/x86_64-linux-gnu/libzstd.so.1", InstructionSet.X64)]
    [TestCase("/usr/aarch64-linux-gnu/lib/libc.so.6", InstructionSet.Arm64)]
    public void Real_libraries_give_their_instruction_set_and_the_load_segments_readelf_shows(string path, InstructionSet set)
    {
        Assert.That(File.Exists(path), Is.True, $"{path} is installed (.ci/run: libzstd1, libc6-dev-arm64-cross)");
        var image = ElfImage.TryRead(File.ReadAllBytes(path));
        Assert.That(image, Is.Not.Null);
        Assert.That(image!.Value.Set, Is.EqualTo(set));
        var expected = ReadelfSegments(path);
        Assert.That(expected, Has.Count.GreaterThanOrEqualTo(2), "readelf lists the library's loaded segments");
        Assert.That(image.Value.Layout.Segments, Is.EqualTo(expected));
    }

    [TestCase(InstructionSet.X64, 1)]
    [TestCase(InstructionSet.X64, 3)]
    [TestCase(InstructionSet.Arm64, 2)]
    public void Synthetic_executables_are_elf_files_readelf_reads_alike(InstructionSet set, int segments)
    {
        using var dir = new TempDirectory();
        var program = SyntheticElf.Random(set, 7, functions: 40, data: 20, new SyntheticElf.Layout(0x400000, 0x600000, segments, 0x3000));
        var path = dir.Write("a.out", program.Link());
        var image = ElfImage.TryRead(File.ReadAllBytes(path));
        Assert.That(image?.Set, Is.EqualTo(set));
        Assert.That(image!.Value.Layout.Segments, Is.EqualTo(ReadelfSegments(path)));
        Assert.That(image.Value.Layout.Segments, Has.Count.EqualTo(segments));
        Assert.That(image.Value.Layout.Segments[^1].MemorySize - image.Value.Layout.Segments[^1].FileSize, Is.EqualTo(0x3000), ".bss after the data");
    }

    private static byte[] Elf(InstructionSet set = InstructionSet.X64) =>
        SyntheticElf.Random(set, 11, functions: 10, data: 6, new SyntheticElf.Layout(0x400000, 0x600000, 3, 0x1000)).Link();

    private static Span<byte> ProgramHeader(byte[] elf, int index) => elf.AsSpan(64 + index * 56, 56);

    public static IEnumerable<TestCaseData> HostileHeaders()
    {
        TestCaseData Case(string name, Action<byte[]> corrupt) => new TestCaseData(corrupt).SetName(name);
        yield return Case("32-bit ELF", e => e[4] = 1);
        yield return Case("big-endian ELF", e => e[5] = 2);
        yield return Case("another machine (ARM, 40)", e => BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(18), 40));
        yield return Case("not ELF at all", e => e[0] = 0x7E);
        yield return Case("program header table past the end", e => BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(32), (ulong)e.Length + 1));
        yield return Case("program header table at offset 2^63", e => BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(32), 1UL << 63));
        yield return Case("program header entries under 56 bytes", e => BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(54), 55));
        yield return Case("65535 program headers", e => BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(56), ushort.MaxValue));
        yield return Case("program header entries of 65535 bytes", e => BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(54), ushort.MaxValue));
        yield return Case("no PT_LOAD", e =>
        {
            for (var i = 0; i < 4; i++) BinaryPrimitives.WriteUInt32LittleEndian(ProgramHeader(e, i), 4); // PT_NOTE
        });
    }

    [TestCaseSource(nameof(HostileHeaders))]
    public void Hostile_headers_give_no_layout(Action<byte[]> corrupt)
    {
        var elf = Elf();
        Assert.That(ElfImage.TryRead(elf), Is.Not.Null, "the file before it is corrupted");
        corrupt(elf);
        Assert.That(ElfImage.TryRead(elf), Is.Null);
    }

    [Test]
    public void Files_shorter_than_an_elf_header_give_no_layout()
    {
        var elf = Elf();
        foreach (var length in new[] { 0, 4, 20, 63 })
            Assert.That(ElfImage.TryRead(elf.AsSpan(0, length)), Is.Null, $"{length} bytes");
        Assert.That(ElfImage.TryRead(elf.AsSpan(0, 64 + 4 * 56)), Is.Null, "headers whose segments are all past the end");
    }

    public static IEnumerable<TestCaseData> BadSegments()
    {
        TestCaseData Case(string name, Action<byte[]> corrupt) => new TestCaseData(corrupt).SetName(name);
        yield return Case("a segment starting past the end", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[8..], (ulong)e.Length + 1));
        yield return Case("a segment running past the end", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[32..], (ulong)e.Length));
        yield return Case("a segment of 2^64-1 bytes", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[32..], ulong.MaxValue));
        yield return Case("a segment whose memory is smaller than its file bytes", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[40..], 1));
        yield return Case("a segment at an address past long's range", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[16..], ulong.MaxValue - 10));
        yield return Case("a segment of 2^63 bytes of memory", e => BinaryPrimitives.WriteUInt64LittleEndian(ProgramHeader(e, 1)[40..], 1UL << 63));
    }

    [TestCaseSource(nameof(BadSegments))]
    public void A_bad_segment_is_left_out_and_the_others_kept(Action<byte[]> corrupt)
    {
        var elf = Elf();
        var segments = ElfImage.TryRead(elf)!.Value.Layout.Segments.ToArray();
        Assert.That(segments, Has.Length.EqualTo(3));
        corrupt(elf);
        var image = ElfImage.TryRead(elf);
        Assert.That(image?.Set, Is.EqualTo(InstructionSet.X64));
        Assert.That(image!.Value.Layout.Segments, Is.EqualTo(new[] { segments[0], segments[2] }));
    }
}

using System.Buffers.Binary;
using Doras.Delta.Executables;

namespace Doras.Tests.Delta;

/// <summary>
/// The reference codecs of bsdiff-exe against instruction bytes an assembler writes (each encoding below was
/// checked with GNU as / llvm-mc): decoding finds the reference and its relative target, encoding another
/// relative target gives the assembler's bytes for it, and a target the instruction cannot reach is refused
/// with the field left as it was.
/// </summary>
public class ReferenceCodecTests
{
    private static readonly X64References X64 = new();
    private static readonly Arm64References Arm64 = new();

    /// <summary>The instruction bytes with <see cref="ReferenceCodec.Lookbehind"/> zeros before and <see cref="ReferenceCodec.MaxWidth"/> after, as the prediction's window holds them.</summary>
    private static byte[] Window(params byte[] code) => [.. new byte[ReferenceCodec.Lookbehind], .. code, .. new byte[ReferenceCodec.MaxWidth]];

    private static byte[] Words(params uint[] words)
    {
        var bytes = new byte[words.Length * 4];
        for (var i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), words[i]);
        return bytes;
    }

    private static (CodeReference Reference, byte[] Field) DecodeX64(byte[] code, int fieldAt)
    {
        var window = Window(code);
        var at = ReferenceCodec.Lookbehind + fieldAt;
        Assert.That(X64.TryDecode(window, at, code.Length - fieldAt, out var reference), Is.True, "a reference is found");
        return (reference, window[at..(at + reference.Width)]);
    }

    /// <param name="code">The instruction (and its operands) as as(1) encodes it.</param>
    /// <param name="fieldAt">Where its 32-bit displacement starts.</param>
    /// <param name="relative">The decoded target, from the displacement's start: the displacement plus the bytes after it to the instruction's end.</param>
    [TestCase(new byte[] { 0xE8, 0x00, 0x00, 0x00, 0x00 }, 1, 4L, TestName = "call .+5 (E8 00 00 00 00)")]
    [TestCase(new byte[] { 0xE8, 0xFB, 0xFF, 0xFF, 0xFF }, 1, -1L, TestName = "call . (a call to itself)")]
    [TestCase(new byte[] { 0xE9, 0x10, 0x00, 0x00, 0x00 }, 1, 20L, TestName = "jmp rel32")]
    [TestCase(new byte[] { 0x0F, 0x84, 0x00, 0x01, 0x00, 0x00 }, 2, 0x104L, TestName = "je rel32")]
    [TestCase(new byte[] { 0x48, 0x8D, 0x05, 0x00, 0x00, 0x00, 0x00 }, 3, 4L, TestName = "lea rax, [rip]")]
    [TestCase(new byte[] { 0xFF, 0x15, 0x30, 0x00, 0x00, 0x00 }, 2, 0x34L, TestName = "call [rip + 0x30]")]
    [TestCase(new byte[] { 0xF2, 0x0F, 0x10, 0x05, 0x40, 0x00, 0x00, 0x00 }, 4, 0x44L, TestName = "movsd xmm0, [rip + 0x40]")]
    [TestCase(new byte[] { 0x48, 0xC7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00 }, 3, 0x18L, TestName = "mov qword [rip + 0x10], 5 (4-byte immediate after)")]
    [TestCase(new byte[] { 0x80, 0x3D, 0x20, 0x00, 0x00, 0x00, 0x01 }, 2, 0x25L, TestName = "cmp byte [rip + 0x20], 1 (1-byte immediate after)")]
    public void X64_references_decode_to_their_target(byte[] code, int fieldAt, long relative)
    {
        var (reference, _) = DecodeX64(code, fieldAt);
        Assert.That(reference, Is.EqualTo(new CodeReference(4, relative, PageRelative: false)));
    }

    [Test]
    public void X64_call_written_for_another_target_is_what_the_assembler_writes()
    {
        // call .+5 becomes call .+0x12345678+5: as(1) writes E8 78 56 34 12.
        var (reference, field) = DecodeX64([0xE8, 0x00, 0x00, 0x00, 0x00], 1);
        Assert.That(X64.TryEncode(field, reference, reference.Relative + 0x12345678), Is.True);
        Assert.That(field, Is.EqualTo(new byte[] { 0x78, 0x56, 0x34, 0x12 }));

        // The immediate after mov's displacement stays counted: a target 0x100 further is displacement 0x110.
        (reference, field) = DecodeX64([0x48, 0xC7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00], 3);
        Assert.That(X64.TryEncode(field, reference, reference.Relative + 0x100), Is.True);
        Assert.That(field, Is.EqualTo(new byte[] { 0x10, 0x01, 0x00, 0x00 }));

        // Backwards: lea rax, [rip - 8].
        (reference, field) = DecodeX64([0x48, 0x8D, 0x05, 0x00, 0x00, 0x00, 0x00], 3);
        Assert.That(X64.TryEncode(field, reference, reference.Relative - 8), Is.True);
        Assert.That(field, Is.EqualTo(new byte[] { 0xF8, 0xFF, 0xFF, 0xFF }));
    }

    [Test]
    public void X64_targets_past_a_32_bit_displacement_are_refused_and_the_field_is_left_alone()
    {
        var (reference, field) = DecodeX64([0xE8, 0x00, 0x00, 0x00, 0x00], 1);
        Assert.That(X64.TryEncode(field, reference, reference.Relative + int.MaxValue + 1L), Is.False);
        Assert.That(field, Is.EqualTo(new byte[4]));
        Assert.That(X64.TryEncode(field, reference, reference.Relative + int.MinValue - 1L), Is.False);
        Assert.That(field, Is.EqualTo(new byte[4]));
        Assert.That(X64.TryEncode(field, reference, reference.Relative + int.MinValue), Is.True, "the lowest displacement is still written");
        Assert.That(field, Is.EqualTo(new byte[] { 0, 0, 0, 0x80 }));
    }

    [TestCase(new byte[] { 0x48, 0x89, 0xC7, 0x00, 0x00, 0x00, 0x00 }, 3, TestName = "mov rdi, rax is no reference")]
    [TestCase(new byte[] { 0x48, 0x8D, 0x45, 0x10, 0x00, 0x00, 0x00 }, 3, TestName = "lea rax, [rbp + 16] (not RIP-relative)")]
    [TestCase(new byte[] { 0x0F, 0x05, 0x00, 0x00, 0x00, 0x00 }, 2, TestName = "syscall is no reference")]
    public void X64_other_instructions_are_not_references(byte[] code, int fieldAt)
    {
        var window = Window(code);
        Assert.That(X64.TryDecode(window, ReferenceCodec.Lookbehind + fieldAt, code.Length - fieldAt, out _), Is.False);
    }

    [Test]
    public void X64_a_reference_that_would_end_past_its_match_is_not_one()
    {
        var window = Window(0xE8, 0x00, 0x00, 0x00, 0x00);
        Assert.That(X64.TryDecode(window, ReferenceCodec.Lookbehind + 1, 3, out _), Is.False);
        Assert.That(X64.TryDecode(window, ReferenceCodec.Lookbehind + 1, 4, out _), Is.True);
    }

    private static (CodeReference Reference, byte[] Field) DecodeArm64(byte[] code, long room = -1)
    {
        var window = Window(code);
        Assert.That(Arm64.TryDecode(window, ReferenceCodec.Lookbehind, room < 0 ? code.Length : room, out var reference), Is.True, "a reference is found");
        return (reference, window[ReferenceCodec.Lookbehind..(ReferenceCodec.Lookbehind + reference.Width)]);
    }

    [TestCase(0x97FFFFFFu, -4L, TestName = "bl .-4 (imm26 = -1)")]
    [TestCase(0x94000002u, 8L, TestName = "bl .+8")]
    [TestCase(0x14000010u, 64L, TestName = "b .+64")]
    [TestCase(0x54000041u, 8L, TestName = "b.ne .+8")]
    [TestCase(0xB4FFFFE0u, -4L, TestName = "cbz x0, .-4")]
    [TestCase(0x36000040u, 8L, TestName = "tbz w0, #0, .+8")]
    [TestCase(0x30000000u, 1L, TestName = "adr x0, .+1")]
    [TestCase(0xF0FFFFE3u, -4096L, TestName = "adrp x3, page -1 (alone)")]
    public void Arm64_single_references_decode_to_their_target(uint instruction, long relative)
    {
        var (reference, _) = DecodeArm64(Words(instruction));
        Assert.That(reference, Is.EqualTo(new CodeReference(4, relative, PageRelative: (instruction & 0x9F000000) == 0x90000000)));
    }

    [TestCase(0x97FFFFFFu, 8L, 0x94000002u, TestName = "bl .-4 rewritten to bl .+8")]
    [TestCase(0x54000041u, -8L, 0x54FFFFC1u, TestName = "b.ne .+8 rewritten to b.ne .-8")]
    [TestCase(0xB4FFFFE0u, 0x100L, 0xB4000800u, TestName = "cbz x0 rewritten to .+0x100")]
    [TestCase(0x36000040u, -4L, 0x3607FFE0u, TestName = "tbz w0, #0 rewritten to .-4")]
    [TestCase(0x30000000u, 0x12L, 0x50000080u, TestName = "adr x0 rewritten to .+0x12")]
    public void Arm64_references_written_for_another_target_are_what_the_assembler_writes(uint instruction, long relative, uint expected)
    {
        var (reference, field) = DecodeArm64(Words(instruction));
        Assert.That(Arm64.TryEncode(field, reference, relative), Is.True);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(field), Is.EqualTo(expected));
    }

    [Test]
    public void Arm64_adrp_with_add_is_one_reference_to_the_byte_and_is_rewritten_as_the_assembler_would()
    {
        // adrp x0, page +1; add x0, x0, #0x10  ->  target page + 0x1010.
        var (reference, field) = DecodeArm64(Words(0xB0000000, 0x91004000));
        Assert.That(reference, Is.EqualTo(new CodeReference(8, 0x1010, PageRelative: true)));
        // adrp x0, page +2; add x0, x0, #0x18 (llvm-mc: D0000000, 91006000).
        Assert.That(Arm64.TryEncode(field, reference, 0x2018), Is.True);
        Assert.That(field, Is.EqualTo(Words(0xD0000000, 0x91006000)));
    }

    [Test]
    public void Arm64_adrp_with_a_scaled_load_is_one_reference_and_keeps_the_loads_alignment()
    {
        // adrp x0, page +1; ldr x1, [x0, #8] (the 12-bit offset counts 8-byte words).
        var (reference, field) = DecodeArm64(Words(0xB0000000, 0xF9400401));
        Assert.That(reference, Is.EqualTo(new CodeReference(8, 0x1008, PageRelative: true)));
        // adrp x0, page +3; ldr x1, [x0, #0xff8] (as: F947FC01).
        Assert.That(Arm64.TryEncode(field, reference, 0x3FF8), Is.True);
        Assert.That(field, Is.EqualTo(Words(0xF0000000, 0xF947FC01)));
        // A target a 64-bit load cannot name (not a multiple of 8 into its page) is refused, the field untouched.
        Assert.That(Arm64.TryEncode(field, reference, 0x1004), Is.False);
        Assert.That(field, Is.EqualTo(Words(0xF0000000, 0xF947FC01)));

        // ldr w1, [x0, #4] counts 4-byte words; ldr q0, [x0, #16] 16-byte ones.
        Assert.That(DecodeArm64(Words(0xB0000000, 0xB9400401)).Reference.Relative, Is.EqualTo(0x1004));
        (reference, field) = DecodeArm64(Words(0xB0000000, 0x3DC00400));
        Assert.That(reference.Relative, Is.EqualTo(0x1010));
        Assert.That(Arm64.TryEncode(field, reference, 0x1018), Is.False, "a 128-bit load's offset is a multiple of 16");
        Assert.That(Arm64.TryEncode(field, reference, 0x1020), Is.True);
        Assert.That(field, Is.EqualTo(Words(0xB0000000, 0x3DC00800)));
    }

    [Test]
    public void Arm64_adrp_without_its_pair_is_a_page_reference_alone()
    {
        // The add is on another register, or the pair would end past the match: only the adrp is a reference.
        var (reference, field) = DecodeArm64(Words(0xB0000000, 0x91004021));
        Assert.That(reference, Is.EqualTo(new CodeReference(4, 0x1000, PageRelative: true)));
        Assert.That(DecodeArm64(Words(0xB0000000, 0x91004000), room: 4).Reference, Is.EqualTo(new CodeReference(4, 0x1000, PageRelative: true)));
        Assert.That(Arm64.TryEncode(field, reference, 0x1010), Is.False, "a lone adrp names pages only");
        Assert.That(Arm64.TryEncode(field, reference, 0x3000), Is.True);
        Assert.That(field, Is.EqualTo(Words(0xF0000000)));
    }

    [TestCase(0x94000002u, 1L << 27, TestName = "bl past 128 MiB")]
    [TestCase(0x94000002u, -(1L << 27) - 4, TestName = "bl before -128 MiB")]
    [TestCase(0x94000002u, 6L, TestName = "bl to a target not 4-aligned")]
    [TestCase(0x54000041u, 1L << 20, TestName = "b.ne past 1 MiB")]
    [TestCase(0xB4FFFFE0u, -(1L << 20) - 4, TestName = "cbz before -1 MiB")]
    [TestCase(0x36000040u, 1L << 15, TestName = "tbz past 32 KiB")]
    [TestCase(0x30000000u, 1L << 20, TestName = "adr past 1 MiB")]
    [TestCase(0xF0FFFFE3u, 1L << 32, TestName = "adrp past 4 GiB")]
    [TestCase(0xF0FFFFE3u, 0x1800L, TestName = "lone adrp to a target inside a page")]
    public void Arm64_targets_an_instruction_cannot_reach_are_refused_and_the_field_is_left_alone(uint instruction, long relative)
    {
        var (reference, field) = DecodeArm64(Words(instruction));
        var before = field.ToArray();
        Assert.That(Arm64.TryEncode(field, reference, relative), Is.False);
        Assert.That(field, Is.EqualTo(before));
    }

    [Test]
    public void Arm64_the_furthest_targets_in_range_are_still_written()
    {
        var (reference, field) = DecodeArm64(Words(0x94000002));
        Assert.That(Arm64.TryEncode(field, reference, (1L << 27) - 4), Is.True);
        Assert.That(field, Is.EqualTo(Words(0x95FFFFFF)));
        Assert.That(Arm64.TryEncode(field, reference, -(1L << 27)), Is.True);
        Assert.That(field, Is.EqualTo(Words(0x96000000)));
    }

    [TestCase(0xD503201Fu, TestName = "nop")]
    [TestCase(0x8B020020u, TestName = "add x0, x1, x2")]
    [TestCase(0xF9400401u, TestName = "ldr x1, [x0, #8]")]
    [TestCase(0xD65F03C0u, TestName = "ret")]
    public void Arm64_other_instructions_are_not_references(uint instruction)
    {
        Assert.That(Arm64.TryDecode(Window(Words(instruction)), ReferenceCodec.Lookbehind, 4, out _), Is.False);
    }

    /// <summary>
    /// The quick filter skips only positions where no reference starts: walked as the prediction walks it, it stops
    /// at exactly the positions <see cref="ReferenceCodec.TryDecode"/> accepts, on random words (about one in ten is a
    /// reference on ARM64, one in eighty on x64) and on words biased to the encodings' top bytes, from the window's
    /// first position or one step further.
    /// </summary>
    [TestCase("x64")]
    [TestCase("arm64")]
    public void The_candidate_filter_stops_at_every_reference_and_only_there(string set)
    {
        ReferenceCodec codec = set == "x64" ? X64 : Arm64;
        var random = new Random(23);
        var tops = new byte[] { 0x14, 0x94, 0x54, 0x34, 0xB5, 0x36, 0xB7, 0x10, 0x90, 0xF0, 0x91, 0xE8, 0xE9, 0x0F, 0x05, 0x8D };
        for (var round = 0; round < 200; round++)
        {
            var code = new byte[4 * random.Next(1, 64)];
            random.NextBytes(code);
            if (round % 2 == 1)
                for (var i = 3; i < code.Length; i += 4) code[i] = tops[random.Next(tops.Length)];
            var window = Window(code);
            var step = codec.Step;
            var (from, to) = (ReferenceCodec.Lookbehind + step * random.Next(0, 2), ReferenceCodec.Lookbehind + code.Length);
            var expected = new List<int>();
            for (var at = from; at < to; at += step)
                if (codec.TryDecode(window, at, long.MaxValue, out _)) expected.Add(at);
            var found = new List<int>();
            for (var at = from; at < to; at += step)
            {
                at = codec.NextCandidate(window, at, to);
                if (at >= to) break;
                Assert.That((at - from) % step, Is.Zero, "candidates keep the instruction alignment");
                if (codec.TryDecode(window, at, long.MaxValue, out _)) found.Add(at);
            }
            Assert.That(found, Is.EqualTo(expected), $"round {round}");
        }
    }
}

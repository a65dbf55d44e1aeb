using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Doras.Delta.Executables;

/// <summary>
/// A reference found in code: <see cref="Width"/> bytes from its start that name the address
/// <c>base + Relative</c>, where base is the reference's own address (rounded down to its 4 KiB page when
/// <see cref="PageRelative"/>).
/// </summary>
public readonly record struct CodeReference(int Width, long Relative, bool PageRelative);

/// <summary>
/// How one instruction set's relative references are recognised in code and written again for another target.
/// Recognition looks only at the bytes around a position, so builder and device find the same references.
/// </summary>
public abstract class ReferenceCodec
{
    /// <summary>Bytes before a reference's start its recognition reads.</summary>
    public const int Lookbehind = 3;

    /// <summary>The widest reference.</summary>
    public const int MaxWidth = 8;

    /// <summary>Positions a reference can start at are multiples of this.</summary>
    public abstract int Step { get; }

    /// <summary>
    /// Whether a reference starts at <paramref name="at"/> of <paramref name="window"/> (which holds at least
    /// <see cref="Lookbehind"/> bytes before it, zeros before the file, and <see cref="MaxWidth"/> after it, zeros
    /// after the file); it must end within <paramref name="room"/> bytes.
    /// </summary>
    public abstract bool TryDecode(ReadOnlySpan<byte> window, int at, long room, out CodeReference reference);

    /// <summary>
    /// The first position from <paramref name="from"/> (before <paramref name="to"/>) where <see cref="TryDecode"/>
    /// may find a reference; <paramref name="to"/> when there is none. A quick filter: most code bytes start none.
    /// </summary>
    public virtual int NextCandidate(ReadOnlySpan<byte> window, int from, int to) => from;

    /// <summary>
    /// Writes <paramref name="field"/>, which holds <paramref name="reference"/>, again so that its
    /// <see cref="CodeReference.Relative"/> becomes <paramref name="relative"/>; false when that cannot be written.
    /// </summary>
    public abstract bool TryEncode(Span<byte> field, in CodeReference reference, long relative);

    public static ReferenceCodec For(InstructionSet set) => set switch
    {
        InstructionSet.X64 => new X64References(),
        InstructionSet.Arm64 => new Arm64References(),
        _ => throw new ArgumentOutOfRangeException(nameof(set), set, "no references known for this instruction set"),
    };
}

/// <summary>
/// x86-64: the 32-bit displacements of call, jmp and jcc, and of RIP-relative operands of the common instructions
/// (mov, lea, add, cmp, the SSE moves...). A displacement counts from the end of its four bytes; instructions with an
/// immediate after it count a little further, which moves a target by those bytes, the same in both versions.
/// </summary>
public sealed class X64References : ReferenceCodec
{
    private static readonly bool[] OneByteWithModRm = Table(0x01, 0x03, 0x09, 0x0B, 0x11, 0x13, 0x19, 0x1B, 0x21, 0x23, 0x29, 0x2B, 0x31, 0x33, 0x39, 0x3B,
        0x63, 0x80, 0x81, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8D, 0xC6, 0xC7, 0xFF);

    private static readonly bool[] TwoByteWithModRm = Table(0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x28, 0x29, 0x2A, 0x2C, 0x2D, 0x2E, 0x2F,
        0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
        0x51, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x5C, 0x5D, 0x5E, 0x5F, 0x6E, 0x6F, 0x7E, 0x7F, 0xAF, 0xB6, 0xB7, 0xBE, 0xBF, 0xD6, 0xEF);

    public override int Step => 1;

    /// <summary>A reference can only follow E8/E9 (call, jmp), 0F 8x (jcc) or a ModRM of [rip + disp32]: a vector at a time.</summary>
    public override int NextCandidate(ReadOnlySpan<byte> window, int from, int to)
    {
        var at = from;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; at + Vector128<byte>.Count <= to; at += Vector128<byte>.Count)
            {
                var before = Vector128.Create(window.Slice(at - 1, Vector128<byte>.Count));
                var twoBefore = Vector128.Create(window.Slice(at - 2, Vector128<byte>.Count));
                var candidates = Vector128.Equals(before & Vector128.Create((byte)0xFE), Vector128.Create((byte)0xE8))
                    | (Vector128.Equals(before & Vector128.Create((byte)0xF0), Vector128.Create((byte)0x80)) & Vector128.Equals(twoBefore, Vector128.Create((byte)0x0F)))
                    | Vector128.Equals(before & Vector128.Create((byte)0xC7), Vector128.Create((byte)0x05));
                var bits = candidates.ExtractMostSignificantBits();
                if (bits != 0) return at + BitOperations.TrailingZeroCount(bits);
            }
        }
        for (; at < to; at++)
        {
            var b = window[at - 1];
            if ((b & 0xFE) == 0xE8 || ((b & 0xF0) == 0x80 && window[at - 2] == 0x0F) || (b & 0xC7) == 0x05) return at;
        }
        return to;
    }

    public override bool TryDecode(ReadOnlySpan<byte> window, int at, long room, out CodeReference reference)
    {
        reference = default;
        if (room < 4) return false;
        byte b1 = window[at - 1], b2 = window[at - 2], b3 = window[at - 3];
        var relative = b1 is 0xE8 or 0xE9 || (b2 == 0x0F && (b1 & 0xF0) == 0x80);
        if (!relative && (b1 & 0xC7) == 0x05) // ModRM: mod 00, r/m 101 is [rip + disp32]
            relative = b3 == 0x0F ? TwoByteWithModRm[b2] : OneByteWithModRm[b2];
        if (!relative) return false;
        var immediate = b3 == 0x0F || (b1 & 0xC7) != 0x05 ? 0 : b2 switch { 0x80 or 0x83 or 0xC6 => 1, 0x81 or 0xC7 => 4, _ => 0 };
        reference = new CodeReference(4, 4 + immediate + BinaryPrimitives.ReadInt32LittleEndian(window[at..]), PageRelative: false);
        return true;
    }

    public override bool TryEncode(Span<byte> field, in CodeReference reference, long relative)
    {
        var displacement = BinaryPrimitives.ReadInt32LittleEndian(field) + (relative - reference.Relative);
        if (displacement is < int.MinValue or > int.MaxValue) return false;
        BinaryPrimitives.WriteInt32LittleEndian(field, (int)displacement);
        return true;
    }

    private static bool[] Table(params int[] opcodes)
    {
        var table = new bool[256];
        foreach (var opcode in opcodes) table[opcode] = true;
        return table;
    }
}

/// <summary>
/// ARM64: the word offsets of B, BL, B.cond, CBZ/CBNZ and TBZ/TBNZ, ADR's byte offset, and ADRP's page offset,
/// together with the ADD or load/store right after it that adds the low 12 bits (one 8-byte reference, so a
/// moved datum costs nothing even when it moves within its page). Instructions are 4-byte aligned in the file.
/// </summary>
public sealed class Arm64References : ReferenceCodec
{
    public override int Step => 4;

    /// <summary>
    /// The first word from <paramref name="from"/> (before <paramref name="to"/>, in steps of 4) that
    /// <see cref="Classify"/> takes for a reference, four words at a time: about four words in five are none, and the
    /// device's apply of esbuild arm64 spent a fifth of its CPU decoding them one by one.
    /// </summary>
    public override int NextCandidate(ReadOnlySpan<byte> window, int from, int to)
    {
        var at = from;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; at + Vector128<byte>.Count <= to; at += Vector128<byte>.Count)
            {
                var words = Vector128.Create(window.Slice(at, Vector128<byte>.Count)).AsUInt32();
                var candidates = Vector128.Equals(words & Vector128.Create(0x7C000000u), Vector128.Create(0x14000000u))
                    | Vector128.Equals(words & Vector128.Create(0xFF000010u), Vector128.Create(0x54000000u))
                    | Vector128.Equals(words & Vector128.Create(0x7C000000u), Vector128.Create(0x34000000u)) // CBZ, CBNZ, TBZ, TBNZ
                    | Vector128.Equals(words & Vector128.Create(0x1F000000u), Vector128.Create(0x10000000u)); // ADR, ADRP
                var bits = candidates.ExtractMostSignificantBits();
                if (bits != 0) return at + 4 * BitOperations.TrailingZeroCount(bits);
            }
        }
        for (; at < to; at += 4)
            if (Classify(BinaryPrimitives.ReadUInt32LittleEndian(window[at..])) != Kind.None) return at;
        return to;
    }

    public override bool TryDecode(ReadOnlySpan<byte> window, int at, long room, out CodeReference reference)
    {
        reference = default;
        if (room < 4) return false;
        var insn = BinaryPrimitives.ReadUInt32LittleEndian(window[at..]);
        switch (Classify(insn))
        {
            case Kind.Branch26: reference = new(4, SignExtend(insn & 0x03FFFFFF, 26) * 4, false); return true;
            case Kind.Branch19: reference = new(4, SignExtend((insn >> 5) & 0x7FFFF, 19) * 4, false); return true;
            case Kind.Branch14: reference = new(4, SignExtend((insn >> 5) & 0x3FFF, 14) * 4, false); return true;
            case Kind.Adr: reference = new(4, AdrImmediate(insn), false); return true;
            case Kind.Adrp:
                var page = AdrImmediate(insn) << 12;
                if (room >= 8 && LowBits(insn, BinaryPrimitives.ReadUInt32LittleEndian(window[(at + 4)..])) is { } low)
                    reference = new(8, page + low, true);
                else
                    reference = new(4, page, true);
                return true;
            default: return false;
        }
    }

    public override bool TryEncode(Span<byte> field, in CodeReference reference, long relative)
    {
        var insn = BinaryPrimitives.ReadUInt32LittleEndian(field);
        switch (Classify(insn))
        {
            case Kind.Branch26: return TryWrite(field, insn, relative, 26, 0, 0x03FFFFFF);
            case Kind.Branch19: return TryWrite(field, insn, relative, 19, 5, 0x7FFFF << 5);
            case Kind.Branch14: return TryWrite(field, insn, relative, 14, 5, 0x3FFF << 5);
            case Kind.Adr: return TryWriteAdr(field, insn, relative);
            case Kind.Adrp:
                if (reference.Width == 4) return (relative & 0xFFF) == 0 && TryWriteAdr(field, insn, relative >> 12);
                var next = BinaryPrimitives.ReadUInt32LittleEndian(field[4..]);
                var scale = Scale(next);
                var low = relative & 0xFFF;
                if ((low & ((1L << scale) - 1)) != 0 || !TryWriteAdr(field, insn, relative >> 12)) return false;
                BinaryPrimitives.WriteUInt32LittleEndian(field[4..], (next & ~(0xFFFu << 10)) | (uint)(low >> scale) << 10);
                return true;
            default: return false;
        }
    }

    private enum Kind { None, Branch26, Branch19, Branch14, Adr, Adrp }

    private static Kind Classify(uint insn) =>
        (insn & 0x7C000000) == 0x14000000 ? Kind.Branch26 // B, BL
        : (insn & 0xFF000010) == 0x54000000 || (insn & 0x7E000000) == 0x34000000 ? Kind.Branch19 // B.cond; CBZ, CBNZ
        : (insn & 0x7E000000) == 0x36000000 ? Kind.Branch14 // TBZ, TBNZ
        : (insn & 0x9F000000) == 0x10000000 ? Kind.Adr
        : (insn & 0x9F000000) == 0x90000000 ? Kind.Adrp
        : Kind.None;

    /// <summary>The low 12 bits <paramref name="next"/> adds to ADRP's page: ADD (immediate, 64-bit, unshifted) or a load/store with an unsigned offset, based on ADRP's register.</summary>
    private static long? LowBits(uint adrp, uint next)
    {
        var register = adrp & 0x1F;
        if (((next >> 5) & 0x1F) != register) return null;
        if ((next & 0xFFC00000) == 0x91000000) return (next >> 10) & 0xFFF; // ADD Xd, Xn, #imm12
        if ((next & 0x3B000000) == 0x39000000) return ((next >> 10) & 0xFFF) << Scale(next); // LDR/STR (unsigned offset)
        return null;
    }

    /// <summary>The log2 of the offset's scale: ADD's is 0; a load/store's is its access size (128-bit SIMD: 4).</summary>
    private static int Scale(uint next)
    {
        if ((next & 0xFFC00000) == 0x91000000) return 0;
        var size = (int)(next >> 30);
        var simd = ((next >> 26) & 1) == 1;
        return simd && ((next >> 23) & 1) == 1 ? 4 : size;
    }

    private static long AdrImmediate(uint insn) => SignExtend(((insn >> 5) & 0x7FFFF) << 2 | ((insn >> 29) & 3), 21);

    private static bool TryWriteAdr(Span<byte> field, uint insn, long immediate)
    {
        if (immediate < -(1L << 20) || immediate >= 1L << 20) return false;
        var bits = (uint)immediate & 0x1FFFFF;
        BinaryPrimitives.WriteUInt32LittleEndian(field, (insn & ~((0x7FFFFu << 5) | (3u << 29))) | ((bits >> 2) << 5) | ((bits & 3) << 29));
        return true;
    }

    private static bool TryWrite(Span<byte> field, uint insn, long relative, int bits, int shift, uint mask)
    {
        if ((relative & 3) != 0) return false;
        var words = relative >> 2;
        if (words < -(1L << (bits - 1)) || words >= 1L << (bits - 1)) return false;
        BinaryPrimitives.WriteUInt32LittleEndian(field, (insn & ~mask) | (((uint)words << shift) & mask));
        return true;
    }

    private static long SignExtend(long value, int bits) => (value << (64 - bits)) >> (64 - bits);
}

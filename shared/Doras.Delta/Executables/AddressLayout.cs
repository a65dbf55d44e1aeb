using System.Buffers.Binary;
using Doras.Delta.Algorithms;

namespace Doras.Delta.Executables;

/// <summary>
/// One loaded segment of an executable: <see cref="FileSize"/> bytes of the file at <see cref="Offset"/> seen at
/// <see cref="Address"/>, zero-filled up to <see cref="MemorySize"/>; <see cref="Executable"/> when it holds code.
/// </summary>
public readonly record struct LoadSegment(long Offset, long Address, long FileSize, long MemorySize, bool Executable)
{
    /// <summary>
    /// The one rule for a segment, from a delta or an ELF file: every value and every end within half of long's
    /// range, so no sum of them overflows, and the zero-filled size no smaller than the file size.
    /// </summary>
    public bool IsValid => Offset is >= 0 and <= Bound && Address is >= 0 and <= Bound && FileSize is >= 0 and <= Bound
        && MemorySize >= FileSize && MemorySize <= Bound && Offset + FileSize <= Bound && Address + MemorySize <= Bound;

    private const long Bound = long.MaxValue / 4;
}

/// <summary>
/// Where an executable's bytes are when it runs (its ELF program headers of type PT_LOAD): a reference in code is
/// an address, found in the file through this. The delta carries the layouts of both versions, so the device
/// needs no ELF parser; a wrong layout only makes predictions wrong, which costs bytes, not correctness.
/// </summary>
public sealed class AddressLayout
{
    /// <summary>More segments than any linker writes; a delta's layout past it is refused.</summary>
    public const int MaxSegments = 64;

    private const string What = "bsdiff-exe delta";

    private readonly LoadSegment[] _segments;

    public AddressLayout(IEnumerable<LoadSegment> segments)
    {
        _segments = [.. segments];
        if (_segments.Length > MaxSegments) throw new CorruptDeltaException($"{What} has an address layout of {_segments.Length} segments; at most {MaxSegments} are allowed");
        if (_segments.Any(s => !s.IsValid)) throw new CorruptDeltaException($"{What} has a malformed segment in its address layout");
    }

    public IReadOnlyList<LoadSegment> Segments => _segments;

    /// <summary>The address the file byte at <paramref name="offset"/> is loaded at.</summary>
    public bool TryAddressOf(long offset, out long address) => TryAddressOf(offset, codeOnly: false, out address);

    /// <summary>The address of the file byte at <paramref name="offset"/> if it is loaded as code (references are looked for only there).</summary>
    public bool TryCodeAddressOf(long offset, out long address) => TryAddressOf(offset, codeOnly: true, out address);

    /// <summary>Whether any file byte in [<paramref name="start"/>, <paramref name="end"/>) is loaded as code.</summary>
    public bool HoldsCode(long start, long end)
    {
        foreach (var s in _segments)
            if (s.Executable && start < s.Offset + s.FileSize && s.Offset < end) return true;
        return false;
    }

    private bool TryAddressOf(long offset, bool codeOnly, out long address)
    {
        var found = TryShiftOf(offset, offset + 1, codeOnly, out var shift);
        address = found ? offset + shift : 0;
        return found;
    }

    /// <summary>
    /// Whether every file byte in [<paramref name="start"/>, <paramref name="end"/>) has its address from one segment
    /// (holding code, if <paramref name="codeOnly"/>), the first that holds it as for a single byte, and if so what
    /// to add to their offsets for their addresses: looked up once for a piece of a match instead of once per
    /// reference in it. False when an earlier segment holds only some of them (segments may overlap in the file).
    /// </summary>
    public bool TryShiftOf(long start, long end, bool codeOnly, out long shift)
    {
        shift = 0;
        if (start >= end) return false;
        foreach (var s in _segments)
        {
            if ((!s.Executable && codeOnly) || end <= s.Offset || start - s.Offset >= s.FileSize) continue; // holds none of them
            if (start < s.Offset || end - s.Offset > s.FileSize) return false; // holds some of them first
            shift = s.Address - s.Offset;
            return true;
        }
        return false;
    }

    /// <summary>The file offset of the byte loaded at <paramref name="address"/>, if it comes from the file.</summary>
    public bool TryOffsetOf(long address, out long offset)
    {
        foreach (var s in _segments)
            if (address >= s.Address && address - s.Address < s.FileSize) { offset = s.Offset + (address - s.Address); return true; }
        offset = 0;
        return false;
    }

    /// <summary>Which segment's zero-filled tail (.bss) holds <paramref name="address"/>, and how far into that tail.</summary>
    public bool TryZeroFilled(long address, out int segment, out long into)
    {
        for (var i = 0; i < _segments.Length; i++)
        {
            var s = _segments[i];
            if (address >= s.Address + s.FileSize && address - s.Address < s.MemorySize) { segment = i; into = address - s.Address - s.FileSize; return true; }
        }
        (segment, into) = (0, 0);
        return false;
    }

    /// <summary>The address <paramref name="into"/> bytes into segment <paramref name="segment"/>'s zero-filled tail.</summary>
    public bool TryZeroFilledAddress(int segment, long into, out long address)
    {
        address = 0;
        if (segment >= _segments.Length) return false;
        var s = _segments[segment];
        address = s.Address + s.FileSize + into;
        return into < s.MemorySize - s.FileSize;
    }

    public void Write(Stream output)
    {
        Varint.Write(output, _segments.Length);
        foreach (var s in _segments)
            foreach (var value in new[] { s.Offset, s.Address, s.FileSize, s.MemorySize, s.Executable ? 1 : 0 })
                Varint.Write(output, value);
    }

    public static AddressLayout Read(Stream input)
    {
        var count = Varint.ReadLength(input, What);
        if (count > MaxSegments) throw new CorruptDeltaException($"{What} has an address layout of {count} segments; at most {MaxSegments} are allowed");
        var segments = new LoadSegment[count];
        for (var i = 0; i < count; i++)
        {
            var (offset, address, fileSize, memorySize, flags) = (Varint.ReadLength(input, What), Varint.ReadLength(input, What), Varint.ReadLength(input, What),
                Varint.ReadLength(input, What), Varint.ReadLength(input, What));
            if (flags > 1) throw new CorruptDeltaException($"{What} has a segment with flags {flags}, which this build does not know");
            segments[i] = new LoadSegment(offset, address, fileSize, memorySize, flags == 1);
        }
        return new AddressLayout(segments);
    }
}

/// <summary>The instruction sets whose references <see cref="ReferencePrediction"/> knows.</summary>
public enum InstructionSet : byte
{
    X64 = 1,
    Arm64 = 2,
}

/// <summary>Reads what a bsdiff-exe build needs of an ELF file: its instruction set and its loaded segments.</summary>
public static class ElfImage
{
    private const ushort MachineX64 = 62, MachineArm64 = 183;
    private const uint LoadType = 1, ExecutableFlag = 1;

    /// <summary>The instruction set and layout of a 64-bit little-endian ELF file for x86-64 or ARM64; null for anything else.</summary>
    public static (InstructionSet Set, AddressLayout Layout)? TryRead(ReadOnlySpan<byte> file)
    {
        if (file.Length < 64 || !file[..4].SequenceEqual("\u007fELF"u8) || file[4] != 2 || file[5] != 1) return null;
        InstructionSet? set = BinaryPrimitives.ReadUInt16LittleEndian(file[18..]) switch
        {
            MachineX64 => InstructionSet.X64,
            MachineArm64 => InstructionSet.Arm64,
            _ => null,
        };
        if (set is null) return null;
        var tableOffset = BinaryPrimitives.ReadUInt64LittleEndian(file[32..]);
        var entrySize = BinaryPrimitives.ReadUInt16LittleEndian(file[54..]);
        var count = BinaryPrimitives.ReadUInt16LittleEndian(file[56..]);
        if (entrySize < 56 || tableOffset > (ulong)file.Length || (ulong)count * entrySize > (ulong)file.Length - tableOffset) return null;
        var segments = new List<LoadSegment>();
        for (var i = 0; i < count; i++)
        {
            var entry = file.Slice((int)tableOffset + i * entrySize, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(entry) != LoadType) continue;
            var (offset, address, fileSize, memorySize) = (BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]), BinaryPrimitives.ReadUInt64LittleEndian(entry[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]), BinaryPrimitives.ReadUInt64LittleEndian(entry[40..]));
            // Only what the file really holds: a segment past the file's end or outside the rule is left out.
            if (offset > (ulong)file.Length || fileSize > (ulong)file.Length - offset || address > long.MaxValue || memorySize > long.MaxValue) continue;
            var segment = new LoadSegment((long)offset, (long)address, (long)fileSize, (long)memorySize, (BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]) & ExecutableFlag) != 0);
            if (segment.IsValid) segments.Add(segment);
        }
        return segments.Count is 0 or > AddressLayout.MaxSegments ? null : (set.Value, new AddressLayout(segments));
    }
}

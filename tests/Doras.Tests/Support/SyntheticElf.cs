using System.Buffers.Binary;
using Doras.Delta.Executables;

namespace Doras.Tests.Support;

/// <summary>
/// Small 64-bit little-endian ELF executables (x86-64 or ARM64) made and linked like a real toolchain would:
/// functions of plausible instructions that call and branch to each other and address data objects (and .bss)
/// through relative references, laid out in 1-3 PT_LOAD segments at different (address - offset). A next version
/// (<see cref="Program.Next"/>) inserts and removes functions and data, which moves code and data, and
/// <see cref="Program.Link"/> writes every reference again so it names the same target at its new place.
/// </summary>
public static class SyntheticElf
{
    public const int PageSize = 0x1000;

    /// <summary>One function: its instructions follow from <see cref="Seed"/>; its references name targets by key.</summary>
    public sealed record Function(int Id, int Seed, int Instructions);

    /// <summary>One data object of <see cref="Size"/> bytes whose content follows from <see cref="Seed"/>.</summary>
    public sealed record Datum(int Id, int Seed, int Size);

    /// <summary>
    /// Where the segments go: the code segment (ELF header, program headers, code) at <see cref="CodeAddress"/>; each
    /// data segment's address is its file offset plus <see cref="DataShift"/> (a different (address - offset)).
    /// <see cref="Segments"/>: 1 (code, data and .bss in one), 2 (code; data and .bss) or 3 (code; read-only data; data and .bss).
    /// <see cref="ForeignReferences"/> of each 100 data references name an address in no segment at all.
    /// </summary>
    public sealed record Layout(long CodeAddress, long DataShift, int Segments, int BssSize, int ForeignReferences = 0);

    /// <param name="FunctionSpace">References name a function by a key in [0, this): the first version's function ids.</param>
    /// <param name="DataSpace">References name a datum by a key in [FunctionSpace, + this): the first version's datum ids.</param>
    /// <param name="Dense">Every instruction a reference (none of the filler), so references sit at every place of the code.</param>
    public sealed record Program(InstructionSet Set, IReadOnlyList<Function> Functions, IReadOnlyList<Datum> Data, Layout Layout, int FunctionSpace, int DataSpace, bool Dense = false)
    {
        /// <summary>The linked file.</summary>
        public byte[] Link() => new Linker(this).Link();

        /// <summary>
        /// The next version: <paramref name="edits"/> functions or data objects inserted or removed at random places
        /// (the code and data after them move), and .bss grown by <paramref name="bssGrowth"/> bytes.
        /// </summary>
        public Program Next(int seed, int edits, int bssGrowth = 0)
        {
            var random = new Random(seed);
            var functions = Functions.ToList();
            var data = Data.ToList();
            var nextId = Math.Max(functions.Max(f => f.Id), data.Count == 0 ? 0 : data.Max(d => d.Id)) + 1;
            for (var e = 0; e < edits; e++)
            {
                switch (random.Next(4))
                {
                    case 0 when functions.Count > 2: functions.RemoveAt(random.Next(functions.Count)); break;
                    case 1 when data.Count > 2: data.RemoveAt(random.Next(data.Count)); break;
                    case 2: data.Insert(random.Next(data.Count + 1), new Datum(nextId++, random.Next(), 8 * random.Next(1, 64))); break;
                    default: functions.Insert(random.Next(functions.Count + 1), new Function(nextId++, random.Next(), random.Next(8, 200))); break;
                }
            }
            return this with { Functions = functions, Data = data, Layout = Layout with { BssSize = Layout.BssSize + bssGrowth } };
        }
    }

    /// <summary>A program of <paramref name="functions"/> functions and <paramref name="data"/> data objects.</summary>
    public static Program Random(InstructionSet set, int seed, int functions, int data, Layout? layout = null)
    {
        var random = new Random(seed);
        var id = 0;
        var fs = Enumerable.Range(0, functions).Select(_ => new Function(id++, random.Next(), random.Next(8, 200))).ToList();
        var ds = Enumerable.Range(0, data).Select(_ => new Datum(id++, random.Next(), 8 * random.Next(1, 64))).ToList();
        return new Program(set, fs, ds, layout ?? new Layout(0x400000, 0x600000, 2, 0x2000), functions, data);
    }

    /// <summary>What one instruction is: filler, or a reference to a function, to an instruction of its own function, to data, to .bss or to nowhere.</summary>
    private enum Op { Filler, Call, TailJump, LocalBranch, Data, Bss, Foreign }

    private readonly record struct Instruction(Op Op, int Variant, int Key, int Offset, uint Filler);

    private sealed class Linker(Program program)
    {
        private readonly bool _x64 = program.Set == InstructionSet.X64;
        private readonly Dictionary<int, long> _functionAddress = [];
        private readonly Dictionary<int, long> _datumAddress = [];
        private readonly int[] _functionIds = [.. program.Functions.Select(f => f.Id).Order()];
        private readonly int[] _datumIds = [.. program.Data.Select(d => d.Id).Order()];
        private long _bssAddress;

        public byte[] Link()
        {
            var layout = program.Layout;
            var bodies = program.Functions.Select(Instructions).ToArray();
            var headerSize = 64 + (layout.Segments + 1) * 56;
            long codeOffset = PageSize;
            var functionOffsets = new long[bodies.Length];
            var position = codeOffset;
            for (var i = 0; i < bodies.Length; i++)
            {
                functionOffsets[i] = position;
                position = Align(position + bodies[i].Sum(Size), 16);
            }
            var codeEnd = position;

            // Data: read-only objects and writable ones (half each with three segments), then .bss.
            var readOnlyCount = layout.Segments == 3 ? program.Data.Count / 2 : 0;
            var segments = new List<LoadSegment>();
            var datumOffsets = new long[program.Data.Count];
            long dataStart;
            if (layout.Segments == 1)
            {
                dataStart = Align(codeEnd, 64);
                position = Place(dataStart, 0, program.Data.Count);
                segments.Add(new LoadSegment(0, layout.CodeAddress, position, position + layout.BssSize, Executable: true));
            }
            else
            {
                segments.Add(new LoadSegment(0, layout.CodeAddress, codeEnd, codeEnd, Executable: true));
                dataStart = Align(codeEnd, PageSize);
                position = dataStart;
                if (readOnlyCount > 0)
                {
                    var end = Place(position, 0, readOnlyCount);
                    segments.Add(new LoadSegment(position, position + layout.DataShift, end - position, end - position, Executable: false));
                    position = Align(end, PageSize);
                }
                var start = position;
                position = Place(start, readOnlyCount, program.Data.Count);
                segments.Add(new LoadSegment(start, start + layout.DataShift, position - start, position - start + layout.BssSize, Executable: false));
            }
            var fileSize = position;
            var elf = new AddressLayout(segments);
            for (var i = 0; i < bodies.Length; i++)
                _functionAddress[program.Functions[i].Id] = Address(elf, functionOffsets[i]);
            for (var i = 0; i < program.Data.Count; i++)
                _datumAddress[program.Data[i].Id] = Address(elf, datumOffsets[i]);
            var last = segments[^1];
            _bssAddress = last.Address + last.FileSize;

            var file = new byte[fileSize];
            WriteHeaders(file, segments, headerSize);
            for (var i = 0; i < bodies.Length; i++)
            {
                var at = functionOffsets[i];
                var end = i + 1 < bodies.Length ? functionOffsets[i + 1] : codeEnd;
                var instructionStarts = new long[bodies[i].Length];
                for (int k = 0, p = (int)at; k < bodies[i].Length; p += Size(bodies[i][k]), k++) instructionStarts[k] = p;
                for (var k = 0; k < bodies[i].Length; k++)
                    Emit(file.AsSpan((int)instructionStarts[k]), bodies[i][k], Address(elf, instructionStarts[k]), Address(elf, at), k, instructionStarts, elf);
                file.AsSpan((int)(at + bodies[i].Sum(Size)), (int)(end - at - bodies[i].Sum(Size))).Fill(_x64 ? (byte)0xCC : (byte)0);
            }
            for (var i = 0; i < program.Data.Count; i++)
                new Random(program.Data[i].Seed).NextBytes(file.AsSpan((int)datumOffsets[i], program.Data[i].Size));
            return file;

            long Place(long from, int first, int end)
            {
                for (var i = first; i < end; i++)
                {
                    datumOffsets[i] = from;
                    from = Align(from + program.Data[i].Size, 16);
                }
                return from;
            }
        }

        private static long Address(AddressLayout layout, long offset) =>
            layout.TryAddressOf(offset, out var address) ? address : throw new InvalidOperationException($"offset {offset} is in no segment");

        private static long Align(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

        private void WriteHeaders(Span<byte> file, List<LoadSegment> segments, int headerSize)
        {
            "\u007fELF"u8.CopyTo(file);
            file[4] = 2; // 64-bit
            file[5] = 1; // little-endian
            file[6] = 1;
            BinaryPrimitives.WriteUInt16LittleEndian(file[16..], 2); // ET_EXEC
            BinaryPrimitives.WriteUInt16LittleEndian(file[18..], _x64 ? (ushort)62 : (ushort)183);
            BinaryPrimitives.WriteUInt32LittleEndian(file[20..], 1);
            BinaryPrimitives.WriteUInt64LittleEndian(file[24..], (ulong)segments[0].Address + PageSize); // entry: the first function
            BinaryPrimitives.WriteUInt64LittleEndian(file[32..], 64);
            BinaryPrimitives.WriteUInt16LittleEndian(file[52..], 64);
            BinaryPrimitives.WriteUInt16LittleEndian(file[54..], 56);
            BinaryPrimitives.WriteUInt16LittleEndian(file[56..], (ushort)(segments.Count + 1));
            BinaryPrimitives.WriteUInt16LittleEndian(file[58..], 64);
            for (var i = 0; i <= segments.Count; i++)
            {
                var entry = file.Slice(64 + i * 56, 56);
                if (i == segments.Count)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(entry, 0x6474E551); // PT_GNU_STACK: not loaded
                    BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], 6);
                    continue;
                }
                var s = segments[i];
                BinaryPrimitives.WriteUInt32LittleEndian(entry, 1); // PT_LOAD
                BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], s.Executable ? 5u : 6u); // R+X or R+W
                BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], (ulong)s.Offset);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[16..], (ulong)s.Address);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[24..], (ulong)s.Address);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[32..], (ulong)s.FileSize);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[40..], (ulong)s.MemorySize);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[48..], PageSize);
            }
            if (headerSize > PageSize) throw new InvalidOperationException("headers past the first page");
        }

        /// <summary>The instructions of a function, from its seed alone (so they stay the same in every version).</summary>
        private Instruction[] Instructions(Function function)
        {
            var random = new Random(function.Seed);
            var body = new Instruction[function.Instructions];
            for (var k = 0; k < body.Length; k++)
            {
                var roll = program.Dense ? random.Next(26) : random.Next(100);
                var op = roll switch { < 8 => Op.Call, < 10 => Op.TailJump, < 16 => Op.LocalBranch, < 24 => Op.Data, < 26 => Op.Bss, _ => Op.Filler };
                if (op is Op.Data && random.Next(100) < program.Layout.ForeignReferences) op = Op.Foreign;
                if (op is Op.Bss && program.Layout.BssSize == 0) op = Op.Data;
                body[k] = new Instruction(op, random.Next(16), random.Next(1 << 20), random.Next(body.Length), (uint)random.Next());
            }
            return body;
        }

        private int Size(Instruction instruction) => _x64
            ? instruction.Op switch
            {
                Op.Call or Op.TailJump => 5,
                Op.LocalBranch => 6,
                Op.Data or Op.Bss or Op.Foreign => 7,
                _ => 1 + instruction.Variant % 4, // nop, mov, add imm8, a 4-byte sse op
            }
            : instruction.Op is Op.Data or Op.Bss or Op.Foreign && instruction.Variant % 4 != 3 ? 8 : 4; // ADRP + ADD/LDR, or ADR

        /// <summary>The target a reference names: the function, instruction, datum (and byte in it), .bss byte or foreign address.</summary>
        private long Target(Instruction instruction, int index, long[] instructionStarts, AddressLayout layout) => instruction.Op switch
        {
            Op.Call or Op.TailJump => _functionAddress[Resolve(_functionIds, instruction.Key % program.FunctionSpace)],
            Op.LocalBranch => Address(layout, instructionStarts[instruction.Offset == index ? (index + 1) % instructionStarts.Length : instruction.Offset]),
            Op.Data => DataTarget(instruction),
            Op.Bss => _bssAddress + (instruction.Key % program.Layout.BssSize & ~7),
            _ => 0x10000000L + (instruction.Key & ~7), // at a fixed address no segment holds
        };

        private long DataTarget(Instruction instruction)
        {
            if (_datumIds.Length == 0) return _bssAddress;
            var id = Resolve(_datumIds, program.FunctionSpace + instruction.Key % Math.Max(1, program.DataSpace));
            var datum = program.Data.First(d => d.Id == id);
            return _datumAddress[id] + (instruction.Offset * 8 % datum.Size);
        }

        /// <summary>The first id at or after <paramref name="wanted"/> (wrapping): a removed target's callers call its neighbour instead.</summary>
        private static int Resolve(int[] ids, int wanted)
        {
            var i = Array.BinarySearch(ids, wanted);
            return ids[i >= 0 ? i : ~i < ids.Length ? ~i : 0];
        }

        private void Emit(Span<byte> at, Instruction instruction, long address, long functionAddress, int index, long[] instructionStarts, AddressLayout layout)
        {
            if (instruction.Op == Op.Filler)
            {
                if (_x64) EmitX64Filler(at, instruction);
                else BinaryPrimitives.WriteUInt32LittleEndian(at, Arm64Filler(instruction));
                return;
            }
            var target = Target(instruction, index, instructionStarts, layout);
            if (_x64) EmitX64(at, instruction, address, target);
            else EmitArm64(at, instruction, address, target);
        }

        private static void EmitX64Filler(Span<byte> at, Instruction instruction)
        {
            var operand = (byte)instruction.Filler;
            ReadOnlySpan<byte> bytes = (instruction.Variant % 4) switch
            {
                0 => [0x90], // nop
                1 => [0x31, (byte)(0xC0 | (operand & 0x3F))], // xor r32, r32
                2 => [0x48, 0x89, (byte)(0xC0 | (operand & 0x3F))], // mov r64, r64
                _ => [0x48, 0x83, (byte)(0xC0 | (operand & 0x07)), (byte)(operand >> 1)], // add r64, imm8
            };
            bytes.CopyTo(at);
        }

        private static void EmitX64(Span<byte> at, Instruction instruction, long address, long target)
        {
            var register = (byte)(instruction.Variant % 8 << 3);
            switch (instruction.Op)
            {
                case Op.Call or Op.TailJump:
                    at[0] = instruction.Op == Op.Call ? (byte)0xE8 : (byte)0xE9;
                    BinaryPrimitives.WriteInt32LittleEndian(at[1..], checked((int)(target - (address + 5))));
                    break;
                case Op.LocalBranch:
                    at[0] = 0x0F;
                    at[1] = (byte)(0x80 | instruction.Variant);
                    BinaryPrimitives.WriteInt32LittleEndian(at[2..], checked((int)(target - (address + 6))));
                    break;
                default: // lea or mov r64, [rip + disp32]
                    at[0] = 0x48;
                    at[1] = instruction.Variant < 8 ? (byte)0x8D : (byte)0x8B;
                    at[2] = (byte)(register | 0x05);
                    BinaryPrimitives.WriteInt32LittleEndian(at[3..], checked((int)(target - (address + 7))));
                    break;
            }
        }

        private static uint Arm64Filler(Instruction instruction)
        {
            var r = instruction.Filler;
            return (instruction.Variant % 4) switch
            {
                0 => 0xD503201F, // nop
                1 => 0x8B000000 | (r & 0x1F) << 16 | (r >> 5 & 0x1F) << 5 | (r >> 10 & 0x1F), // add x, x, x
                2 => 0xF9400000 | (r & 0xFFF) << 10 | 29u << 5 | (r >> 12 & 0x1F), // ldr x, [x29, #imm]
                _ => 0xAA0003E0 | (r & 0x1F) << 16 | (r >> 5 & 0x1F), // mov x, x
            };
        }

        private static void EmitArm64(Span<byte> at, Instruction instruction, long address, long target)
        {
            var relative = target - address;
            var register = (uint)(instruction.Variant % 16);
            switch (instruction.Op)
            {
                case Op.Call or Op.TailJump:
                    BinaryPrimitives.WriteUInt32LittleEndian(at, (instruction.Op == Op.Call ? 0x94000000u : 0x14000000u) | (uint)(relative >> 2) & 0x03FFFFFF);
                    break;
                case Op.LocalBranch:
                    var imm19 = (uint)(relative >> 2) & 0x7FFFF;
                    BinaryPrimitives.WriteUInt32LittleEndian(at, (instruction.Variant % 3) switch
                    {
                        0 => 0x54000000 | imm19 << 5 | register % 14, // b.cond
                        1 => 0xB4000000 | imm19 << 5 | register, // cbz x
                        _ => 0x35000000 | imm19 << 5 | register, // cbnz w
                    });
                    break;
                case var _ when instruction.Variant % 4 == 3: // adr x, target; a nop in its place (keeping the size) where adr cannot reach
                    BinaryPrimitives.WriteUInt32LittleEndian(at, relative is >= -(1 << 20) and < 1 << 20 ? Adr(0x10000000, register, relative) : 0xD503201F);
                    break;
                default: // adrp x, page; then add x, x, #lo12 or ldr x, [x, #lo12]
                    var page = (target >> 12) - (address >> 12);
                    var low = (uint)(target & 0xFFF);
                    BinaryPrimitives.WriteUInt32LittleEndian(at, Adr(0x90000000, register, page));
                    BinaryPrimitives.WriteUInt32LittleEndian(at[4..], instruction.Variant % 2 == 0
                        ? 0x91000000 | low << 10 | register << 5 | register
                        : 0xF9400000 | (low >> 3) << 10 | register << 5 | (register + 1) % 31);
                    break;
            }
        }

        private static uint Adr(uint opcode, uint register, long immediate)
        {
            if (immediate < -(1L << 20) || immediate >= 1L << 20) throw new InvalidOperationException("adr/adrp out of range");
            var bits = (uint)immediate & 0x1FFFFF;
            return opcode | (bits & 3) << 29 | (bits >> 2) << 5 | register;
        }
    }
}

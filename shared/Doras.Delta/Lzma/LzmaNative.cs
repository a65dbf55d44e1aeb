using System.Runtime.InteropServices;

namespace Doras.Delta.Lzma;

/// <summary>
/// The slice of the system's liblzma (XZ Utils, liblzma.so.5, on every Linux) we use: raw LZMA2 encoding and
/// decoding with an explicit dictionary size. Source-level stable since 5.0.
/// </summary>
internal static unsafe partial class LzmaNative
{
    public const string Library = "liblzma.so.5";

    public const int Ok = 0, StreamEnd = 1, BufError = 10;
    public const int Run = 0, Finish = 3;
    public const ulong FilterLzma2 = 0x21, VliUnknown = ulong.MaxValue;
    public const uint PresetExtreme = 1u << 31;

    /// <summary>lzma_stream (lzma/base.h) on LP64; zero-initialised is LZMA_STREAM_INIT. Lives in native memory.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LzmaStream
    {
        public byte* NextIn; public nuint AvailIn; public ulong TotalIn;
        public byte* NextOut; public nuint AvailOut; public ulong TotalOut;
        public nint Allocator; public nint Internal;
        public nint Reserved1, Reserved2, Reserved3, Reserved4;
        public ulong SeekPos, ReservedInt2; public nuint ReservedInt3, ReservedInt4;
        public int ReservedEnum1, ReservedEnum2;
    }

    /// <summary>lzma_filter: a filter id and its options.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Filter
    {
        public ulong Id;
        public void* Options;
    }

    /// <summary>
    /// lzma_options_lzma's size is 112 bytes on LP64; we reserve more and only touch dict_size (a uint32 at offset 0)
    /// and pb (at <see cref="PositionBitsOffset"/>) after <see cref="Preset"/> fills the rest.
    /// </summary>
    public const int OptionsBytes = 256;

    /// <summary>
    /// Where pb lies in lzma_options_lzma: after dict_size (padded to a pointer's alignment), preset_dict, and the uint32s
    /// preset_dict_size, lc and lp: 28 on 64-bit systems, 20 on 32-bit ones.
    /// </summary>
    public static readonly int PositionBitsOffset = 2 * IntPtr.Size + 3 * sizeof(uint);

    [LibraryImport(Library, EntryPoint = "lzma_lzma_preset")] public static partial byte Preset(void* options, uint preset);
    [LibraryImport(Library, EntryPoint = "lzma_raw_encoder")] public static partial int RawEncoder(LzmaStream* stream, Filter* filters);
    [LibraryImport(Library, EntryPoint = "lzma_raw_decoder")] public static partial int RawDecoder(LzmaStream* stream, Filter* filters);
    [LibraryImport(Library, EntryPoint = "lzma_code")] public static partial int Code(LzmaStream* stream, int action);
    [LibraryImport(Library, EntryPoint = "lzma_end")] public static partial void End(LzmaStream* stream);
}

/// <summary>A raw LZMA2 coder of the system's liblzma, fed span by span; disposing frees its native state.</summary>
internal sealed unsafe class Lzma2Coder : IDisposable
{
    private readonly LzmaNative.LzmaStream* _stream;
    private bool _disposed;

    private Lzma2Coder(bool encode, int dictionaryLog, uint preset, int positionBits = 2)
    {
        _stream = (LzmaNative.LzmaStream*)NativeMemory.AllocZeroed((nuint)sizeof(LzmaNative.LzmaStream));
        var options = NativeMemory.AllocZeroed(LzmaNative.OptionsBytes);
        try
        {
            if (LzmaNative.Preset(options, preset) != 0) throw new InvalidOperationException($"liblzma has no preset {preset:x}");
            *(uint*)options = 1u << dictionaryLog;
            if (encode) *(uint*)((byte*)options + LzmaNative.PositionBitsOffset) = (uint)positionBits; // a decoder reads it from the stream
            var filters = stackalloc LzmaNative.Filter[2];
            filters[0] = new LzmaNative.Filter { Id = LzmaNative.FilterLzma2, Options = options };
            filters[1] = new LzmaNative.Filter { Id = LzmaNative.VliUnknown };
            var result = encode ? LzmaNative.RawEncoder(_stream, filters) : LzmaNative.RawDecoder(_stream, filters);
            if (result != LzmaNative.Ok) throw new InvalidOperationException($"liblzma could not start a raw LZMA2 {(encode ? "encoder" : "decoder")} (error {result})");
        }
        catch
        {
            NativeMemory.Free(_stream);
            throw;
        }
        finally
        {
            NativeMemory.Free(options); // liblzma copies what it needs at initialisation
        }
    }

    /// <summary>
    /// An encoder at xz's strongest preset (9, extreme) with a dictionary of 2^<paramref name="dictionaryLog"/> bytes and
    /// <paramref name="positionBits"/> (pb: how many low bits of a position its probabilities depend on; 0 to 4). LZMA2
    /// writes pb into the stream, so the decoder needs only the dictionary size.
    /// </summary>
    public static Lzma2Coder Encoder(int dictionaryLog, int positionBits = 2)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)positionBits, 4u, nameof(positionBits));
        return new(encode: true, dictionaryLog, 9 | LzmaNative.PresetExtreme, positionBits);
    }

    /// <summary>A decoder whose dictionary (its memory) is 2^<paramref name="dictionaryLog"/> bytes.</summary>
    public static Lzma2Coder Decoder(int dictionaryLog) => new(encode: false, dictionaryLog, 6);

    /// <summary>One step: consumes from <paramref name="input"/>, produces into <paramref name="output"/>; returns liblzma's code.</summary>
    public int Code(ReadOnlySpan<byte> input, Span<byte> output, bool finish, out int consumed, out int produced)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        fixed (byte* i = input)
        fixed (byte* o = output)
        {
            _stream->NextIn = i; _stream->AvailIn = (nuint)input.Length;
            _stream->NextOut = o; _stream->AvailOut = (nuint)output.Length;
            var result = LzmaNative.Code(_stream, finish ? LzmaNative.Finish : LzmaNative.Run);
            consumed = input.Length - (int)_stream->AvailIn;
            produced = output.Length - (int)_stream->AvailOut;
            _stream->NextIn = null; _stream->NextOut = null;
            return result;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        LzmaNative.End(_stream);
        NativeMemory.Free(_stream);
    }
}

using System.Runtime.InteropServices;
using Doras.Oci;

namespace Doras.Delta.Deflate;

/// <summary>
/// The slice of the system's zlib (libz.so.1) we use: raw deflate with explicit settings, raw inflate, CRC-32.
/// The system zlib, not .NET's bundled zlib-ng, because reproducing a published gzip file byte for byte needs
/// the classic implementation most of them were made with.
/// </summary>
internal static unsafe partial class ZlibNative
{
    public const string Library = "libz.so.1";

    public const int Ok = 0, StreamEnd = 1, BufError = -5;
    public const int NoFlush = 0, Finish = 4;

    /// <summary>z_stream (zlib.h) on LP64; it must not move while zlib uses it, so it lives in native memory.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ZStream
    {
        public byte* NextIn; public uint AvailIn; public CULong TotalIn;
        public byte* NextOut; public uint AvailOut; public CULong TotalOut;
        public nint Msg; public nint State; public nint ZAlloc; public nint ZFree; public nint Opaque;
        public int DataType; public CULong Adler; public CULong Reserved;
    }

    [LibraryImport(Library, EntryPoint = "zlibVersion")] public static partial byte* Version();

    /// <summary>Calls into the library, so a missing one throws <see cref="DllNotFoundException"/> here.</summary>
    public static bool ProbeVersion() => Version() != null;
    [LibraryImport(Library, EntryPoint = "deflateInit2_")] public static partial int DeflateInit2(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy, byte* version, int streamSize);
    [LibraryImport(Library, EntryPoint = "deflate")] public static partial int Deflate(ZStream* stream, int flush);
    [LibraryImport(Library, EntryPoint = "deflateEnd")] public static partial int DeflateEnd(ZStream* stream);
    [LibraryImport(Library, EntryPoint = "inflateInit2_")] public static partial int InflateInit2(ZStream* stream, int windowBits, byte* version, int streamSize);
    [LibraryImport(Library, EntryPoint = "inflate")] public static partial int Inflate(ZStream* stream, int flush);
    [LibraryImport(Library, EntryPoint = "inflateEnd")] public static partial int InflateEnd(ZStream* stream);
    [LibraryImport(Library, EntryPoint = "crc32")] public static partial CULong Crc32(CULong crc, byte* buffer, uint length);
}

/// <summary>
/// Loads the system's zlib once. Only the deflate algorithm needs it (every other one, and the rest of the edge
/// client, is self-contained), so its absence is one clear error there, and a client without it does not ask for
/// deflate deltas.
/// </summary>
public static class ZlibLibrary
{
    private static readonly Lazy<bool> Probe = new(() =>
    {
        try { return ZlibNative.ProbeVersion(); }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    });

    public const string MissingMessage =
        "deflate deltas need the system zlib (libz.so.1), which could not be loaded: they recompress with it to reproduce the published bytes exactly; install it, e.g. 'apt-get install zlib1g' on Debian/Ubuntu, 'apk add zlib' on Alpine";

    /// <summary>Whether libz.so.1 loads in this process.</summary>
    public static bool IsAvailable => Probe.Value;

    public static void EnsureAvailable()
    {
        if (!Probe.Value) throw new ZlibUnavailableException(MissingMessage);
    }
}

/// <summary>The system's zlib, which deflate deltas need, is not there.</summary>
public sealed class ZlibUnavailableException(string message) : Exception(message), IFailure
{
    public FailureKind Kind => FailureKind.Internal; // the installation lacks a library
}

/// <summary>A raw deflate or inflate stream of the system's zlib, fed span by span.</summary>
internal sealed unsafe class ZlibStream : IDisposable
{
    private readonly ZlibNative.ZStream* _stream;
    private readonly bool _deflate;
    private bool _disposed;

    private ZlibStream(bool deflate)
    {
        ZlibLibrary.EnsureAvailable();
        _deflate = deflate;
        _stream = (ZlibNative.ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZlibNative.ZStream));
    }

    /// <summary>A raw deflate encoder (no zlib or gzip wrapper) with the given settings.</summary>
    public static ZlibStream Deflater(GzipSettings settings)
    {
        var z = new ZlibStream(deflate: true);
        Check(ZlibNative.DeflateInit2(z._stream, settings.Level, 8, -settings.WindowBits, settings.MemLevel, settings.Strategy, ZlibNative.Version(), sizeof(ZlibNative.ZStream)), z, "deflateInit2");
        return z;
    }

    /// <summary>A raw inflate decoder.</summary>
    public static ZlibStream Inflater()
    {
        var z = new ZlibStream(deflate: false);
        Check(ZlibNative.InflateInit2(z._stream, -15, ZlibNative.Version(), sizeof(ZlibNative.ZStream)), z, "inflateInit2");
        return z;
    }

    /// <summary>
    /// Runs one step: consumes from <paramref name="input"/>, produces into <paramref name="output"/>.
    /// Returns (bytes consumed, bytes produced, stream ended).
    /// </summary>
    public (int Consumed, int Produced, bool Ended) Step(ReadOnlySpan<byte> input, Span<byte> output, bool finish)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            _stream->NextIn = inPtr;
            _stream->AvailIn = (uint)input.Length;
            _stream->NextOut = outPtr;
            _stream->AvailOut = (uint)output.Length;
            var result = _deflate
                ? ZlibNative.Deflate(_stream, finish ? ZlibNative.Finish : ZlibNative.NoFlush)
                : ZlibNative.Inflate(_stream, ZlibNative.NoFlush);
            if (result is not (ZlibNative.Ok or ZlibNative.StreamEnd or ZlibNative.BufError))
                throw new InvalidDataException($"zlib {(_deflate ? "deflate" : "inflate")} failed ({result}{(_stream->Msg != 0 ? ": " + Marshal.PtrToStringAnsi(_stream->Msg) : "")})");
            var consumed = input.Length - (int)_stream->AvailIn;
            var produced = output.Length - (int)_stream->AvailOut;
            _stream->NextIn = null;
            _stream->NextOut = null;
            return (consumed, produced, result == ZlibNative.StreamEnd);
        }
    }

    public static uint Crc32(uint crc, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return crc; // zlib answers a null buffer with the initial value, not the CRC so far
        ZlibLibrary.EnsureAvailable();
        fixed (byte* p = bytes) return (uint)ZlibNative.Crc32(new CULong(crc), p, (uint)bytes.Length).Value;
    }

    private static void Check(int result, ZlibStream z, string what)
    {
        if (result == ZlibNative.Ok) return;
        z.Dispose();
        throw new InvalidOperationException($"zlib {what} failed ({result})");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_stream->State != 0)
        {
            if (_deflate) ZlibNative.DeflateEnd(_stream);
            else ZlibNative.InflateEnd(_stream);
        }
        NativeMemory.Free(_stream);
    }
}

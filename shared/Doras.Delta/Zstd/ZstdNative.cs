using System.Runtime.InteropServices;
using Doras.Oci;

namespace Doras.Delta.Zstd;

/// <summary>The slice of libzstd's stable API we use (zstd.h, v1.4+). Raw entry points: use <see cref="NativeZstdCodec"/>.</summary>
internal static unsafe partial class ZstdNative
{
    public const string Library = "libzstd.so.1";

    [LibraryImport(Library, EntryPoint = "ZSTD_versionNumber")] public static partial uint VersionNumber();
    [LibraryImport(Library, EntryPoint = "ZSTD_isError")] public static partial uint IsError(nuint code);
    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")] public static partial nint GetErrorName(nuint code);
    [LibraryImport(Library, EntryPoint = "ZSTD_maxCLevel")] public static partial int MaxCLevel();

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")] public static partial CCtxHandle CreateCCtx();
    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")] public static partial nuint FreeCCtx(nint cctx);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setParameter")] public static partial nuint CCtxSetParameter(CCtxHandle cctx, ZstdCParameter param, int value);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setPledgedSrcSize")] public static partial nuint CCtxSetPledgedSrcSize(CCtxHandle cctx, ulong size);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_refPrefix")] public static partial nuint CCtxRefPrefix(CCtxHandle cctx, byte* prefix, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_compressStream2")] public static partial nuint CompressStream2(CCtxHandle cctx, ZstdOutBuffer* output, ZstdInBuffer* input, ZstdEndDirective end);
    [LibraryImport(Library, EntryPoint = "ZSTD_CStreamOutSize")] public static partial nuint CStreamOutSize();

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")] public static partial DCtxHandle CreateDCtx();
    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")] public static partial nuint FreeDCtx(nint dctx);
    [LibraryImport(Library, EntryPoint = "ZSTD_DCtx_setParameter")] public static partial nuint DCtxSetParameter(DCtxHandle dctx, ZstdDParameter param, int value);
    [LibraryImport(Library, EntryPoint = "ZSTD_DCtx_refPrefix")] public static partial nuint DCtxRefPrefix(DCtxHandle dctx, byte* prefix, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_decompressStream")] public static partial nuint DecompressStream(DCtxHandle dctx, ZstdOutBuffer* output, ZstdInBuffer* input);
    [LibraryImport(Library, EntryPoint = "ZSTD_DStreamInSize")] public static partial nuint DStreamInSize();

    /// <summary>Throws a <see cref="ZstdException"/> when a libzstd return value is an error code.</summary>
    public static nuint Check(nuint result, string operation)
    {
        if (IsError(result) != 0)
            throw new ZstdException($"zstd {operation} failed: {Marshal.PtrToStringAnsi(GetErrorName(result))}");
        return result;
    }
}

/// <summary>A ZSTD_CCtx*, freed exactly once.</summary>
internal sealed class CCtxHandle() : SafeHandle(nint.Zero, ownsHandle: true)
{
    public override bool IsInvalid => handle == nint.Zero;
    protected override bool ReleaseHandle() { ZstdNative.FreeCCtx(handle); return true; }
}

/// <summary>A ZSTD_DCtx*, freed exactly once.</summary>
internal sealed class DCtxHandle() : SafeHandle(nint.Zero, ownsHandle: true)
{
    public override bool IsInvalid => handle == nint.Zero;
    protected override bool ReleaseHandle() { ZstdNative.FreeDCtx(handle); return true; }
}

/// <summary>libzstd reported an error: corrupt input, wrong parameters, or a limit reached.</summary>
public class ZstdException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Verification; // a truncated stream, or one that decompresses past its bound
}

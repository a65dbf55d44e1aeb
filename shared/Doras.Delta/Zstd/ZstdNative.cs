using System.Runtime.InteropServices;

namespace Doras.Delta.Zstd;

/// <summary>The slice of libzstd's stable API we use (zstd.h, v1.4+). Raw entry points: use the wrappers.</summary>
internal static unsafe partial class ZstdNative
{
    public const string Library = "libzstd.so.1";

    [StructLayout(LayoutKind.Sequential)]
    public struct InBuffer { public byte* Src; public nuint Size; public nuint Pos; }

    [StructLayout(LayoutKind.Sequential)]
    public struct OutBuffer { public byte* Dst; public nuint Size; public nuint Pos; }

    public enum CParameter
    {
        CompressionLevel = 100, WindowLog = 101, HashLog = 102, ChainLog = 103, SearchLog = 104, MinMatch = 105,
        TargetLength = 106, Strategy = 107, EnableLongDistanceMatching = 160, LdmHashLog = 161, LdmMinMatch = 162,
        ContentSizeFlag = 200, ChecksumFlag = 201, DictIdFlag = 202, NbWorkers = 400, JobSize = 401, OverlapLog = 402,
    }

    public enum DParameter { WindowLogMax = 100 }

    public enum EndDirective { Continue = 0, Flush = 1, End = 2 }

    [LibraryImport(Library, EntryPoint = "ZSTD_versionNumber")] public static partial uint VersionNumber();
    [LibraryImport(Library, EntryPoint = "ZSTD_isError")] public static partial uint IsError(nuint code);
    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")] public static partial nint GetErrorName(nuint code);
    [LibraryImport(Library, EntryPoint = "ZSTD_maxCLevel")] public static partial int MaxCLevel();

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")] public static partial CompressionContext CreateCCtx();
    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")] public static partial nuint FreeCCtx(nint cctx);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setParameter")] public static partial nuint CCtxSetParameter(CompressionContext cctx, CParameter param, int value);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setPledgedSrcSize")] public static partial nuint CCtxSetPledgedSrcSize(CompressionContext cctx, ulong size);
    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_refPrefix")] public static partial nuint CCtxRefPrefix(CompressionContext cctx, byte* prefix, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_compressStream2")] public static partial nuint CompressStream2(CompressionContext cctx, OutBuffer* output, InBuffer* input, EndDirective end);
    [LibraryImport(Library, EntryPoint = "ZSTD_CStreamOutSize")] public static partial nuint CStreamOutSize();

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")] public static partial DecompressionContext CreateDCtx();
    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")] public static partial nuint FreeDCtx(nint dctx);
    [LibraryImport(Library, EntryPoint = "ZSTD_DCtx_setParameter")] public static partial nuint DCtxSetParameter(DecompressionContext dctx, DParameter param, int value);
    [LibraryImport(Library, EntryPoint = "ZSTD_DCtx_refPrefix")] public static partial nuint DCtxRefPrefix(DecompressionContext dctx, byte* prefix, nuint size);
    [LibraryImport(Library, EntryPoint = "ZSTD_decompressStream")] public static partial nuint DecompressStream(DecompressionContext dctx, OutBuffer* output, InBuffer* input);
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
internal sealed class CompressionContext() : SafeHandle(nint.Zero, ownsHandle: true)
{
    public override bool IsInvalid => handle == nint.Zero;
    protected override bool ReleaseHandle() { ZstdNative.FreeCCtx(handle); return true; }
}

/// <summary>A ZSTD_DCtx*, freed exactly once.</summary>
internal sealed class DecompressionContext() : SafeHandle(nint.Zero, ownsHandle: true)
{
    public override bool IsInvalid => handle == nint.Zero;
    protected override bool ReleaseHandle() { ZstdNative.FreeDCtx(handle); return true; }
}

/// <summary>libzstd reported an error: corrupt input, wrong parameters, or a limit reached.</summary>
public class ZstdException(string message) : IOException(message);

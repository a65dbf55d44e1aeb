using System.Runtime.InteropServices;

namespace Doras.Delta.Zstd;

// zstd.h's types, laid out as both libzstd and ZstdSharp have them, so either takes them as they are.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ZstdInBuffer { public byte* Src; public nuint Size; public nuint Pos; }

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ZstdOutBuffer { public byte* Dst; public nuint Size; public nuint Pos; }

internal enum ZstdCParameter
{
    CompressionLevel = 100, WindowLog = 101, EnableLongDistanceMatching = 160, ChecksumFlag = 201, NbWorkers = 400,
    SourceSizeHint = 1004, // ZSTD_c_srcSizeHint (ZSTD_c_experimentalParam7), libzstd 1.4.4+
    StableInBuffer = 1006, // ZSTD_c_stableInBuffer (ZSTD_c_experimentalParam9); growing between calls from libzstd 1.5.4
}

internal enum ZstdDParameter
{
    WindowLogMax = 100,
    StableOutBuffer = 1001, // ZSTD_d_stableOutBuffer (ZSTD_d_experimentalParam2), libzstd 1.4.5+
}

internal enum ZstdEndDirective { Continue = 0, Flush = 1, End = 2 }

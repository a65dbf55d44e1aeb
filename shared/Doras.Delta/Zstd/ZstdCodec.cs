using System.Diagnostics.CodeAnalysis;

namespace Doras.Delta.Zstd;

/// <summary>
/// One implementation of zstd's streaming API (patch-from prefixes, long-distance matching, levels, window
/// limits, a stable output buffer). <see cref="Managed"/> is ZstdSharp, a C# port of libzstd that needs nothing
/// on the device; <see cref="Native"/> is the system's libzstd.so.1, which the server prefers because it builds
/// deltas faster (see benchmarks/RESULTS.md). Both read and write the same zstd format.
/// </summary>
public abstract class ZstdCodec
{
    /// <summary>The switch a process sets (the server's project does) to use libzstd when it loads.</summary>
    public const string PreferNativeSwitch = "Doras.Delta.Zstd.PreferNative";

    public static ZstdCodec Managed { get; } = new ManagedZstdCodec();

    /// <summary>libzstd.so.1; throws <see cref="ZstdUnavailableException"/> with an install hint when it does not load.</summary>
    public static ZstdCodec Native
    {
        get
        {
            ZstdLibrary.EnsureAvailable();
            return NativeZstdCodec.Instance;
        }
    }

    /// <summary>
    /// The codec encoders and decoders use when not given one: libzstd where the process prefers it and it loads,
    /// else the managed port. Fixed for the life of the process, so a build never mixes the two by accident.
    /// </summary>
    public static ZstdCodec Default => DefaultCodec.Value;

    private static readonly Lazy<ZstdCodec> DefaultCodec = new(() =>
        PreferNative && ZstdLibrary.IsAvailable ? NativeZstdCodec.Instance : Managed);

    /// <summary>
    /// Off unless the application sets it (<c>RuntimeHostConfigurationOption</c>); the edge client's projects set it
    /// off for the trimmer, which then leaves the native binding out of the device's binary altogether.
    /// </summary>
    [FeatureSwitchDefinition(PreferNativeSwitch)]
    private static bool PreferNative => AppContext.TryGetSwitch(PreferNativeSwitch, out var on) && on;

    /// <summary>What it is and which zstd version, e.g. "libzstd 1.5.4" or "ZstdSharp (managed) 1.5.7".</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Whether a stable input buffer may grow between calls (<see cref="ZstdFileEncoder"/>): libzstd from 1.5.4 (before,
    /// a stable input had to come whole with the frame's end); the managed port does.
    /// </summary>
    internal virtual bool TakesGrowingStableInput => true;

    internal abstract ZstdCompressionContext CreateCompressor();

    internal abstract ZstdDecompressionContext CreateDecompressor();

    public override string ToString() => Name;

    private protected static string FormatVersion(uint v) => $"{v / 10000}.{v / 100 % 100}.{v % 100}";
}

/// <summary>A ZSTD_CCtx of one implementation: zstd's parameters and one call of ZSTD_compressStream2.</summary>
internal abstract unsafe class ZstdCompressionContext : IDisposable
{
    public abstract void SetParameter(ZstdCParameter parameter, int value);
    public abstract void SetPledgedSize(ulong size);
    public abstract void ReferencePrefix(byte* prefix, nuint size);

    /// <summary>Returns what zstd still has to flush (0: all flushed, and with End the frame is complete).</summary>
    public abstract nuint Compress(ZstdOutBuffer* output, ZstdInBuffer* input, ZstdEndDirective directive);

    public abstract int OutputBufferSize { get; }
    public abstract void Dispose();
}

/// <summary>A ZSTD_DCtx of one implementation: zstd's parameters and one call of ZSTD_decompressStream.</summary>
internal abstract unsafe class ZstdDecompressionContext : IDisposable
{
    public abstract void SetParameter(ZstdDParameter parameter, int value);
    public abstract void ReferencePrefix(byte* prefix, nuint size);

    /// <summary>Returns 0 when a frame is complete and flushed, else a hint of the input it wants next.</summary>
    public abstract nuint Decompress(ZstdOutBuffer* output, ZstdInBuffer* input);

    public abstract int InputBufferSize { get; }
    public abstract void Dispose();
}

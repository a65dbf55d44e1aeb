using static Doras.Delta.Zstd.ZstdNative;

namespace Doras.Delta.Zstd;

/// <summary>zstd through the system's libzstd.so.1 (P/Invoke, SafeHandles): the server's choice where it loads.</summary>
internal sealed class NativeZstdCodec : ZstdCodec
{
    public static readonly NativeZstdCodec Instance = new();

    private NativeZstdCodec() { }

    public override string Name => $"libzstd {ZstdLibrary.Version}";

    internal override bool TakesGrowingStableInput => ZstdLibrary.VersionNumber >= 10504;

    internal override ZstdCompressionContext CreateCompressor() => new Compression();

    internal override ZstdDecompressionContext CreateDecompressor() => new Decompression();

    private sealed unsafe class Compression : ZstdCompressionContext
    {
        private readonly CCtxHandle _context = CreateCCtx();

        public Compression()
        {
            if (_context.IsInvalid) throw new OutOfMemoryException("ZSTD_createCCtx failed");
        }

        public override void SetParameter(ZstdCParameter parameter, int value) =>
            Check(CCtxSetParameter(_context, parameter, value), $"set {parameter}={value}");

        public override void SetPledgedSize(ulong size) => Check(CCtxSetPledgedSrcSize(_context, size), "set pledged size");

        public override void ReferencePrefix(byte* prefix, nuint size) => Check(CCtxRefPrefix(_context, prefix, size), "reference prefix");

        public override nuint Compress(ZstdOutBuffer* output, ZstdInBuffer* input, ZstdEndDirective directive) =>
            Check(CompressStream2(_context, output, input, directive), "compress");

        public override int OutputBufferSize => (int)CStreamOutSize();

        public override void Dispose() => _context.Dispose();
    }

    private sealed unsafe class Decompression : ZstdDecompressionContext
    {
        private readonly DCtxHandle _context = CreateDCtx();

        public Decompression()
        {
            if (_context.IsInvalid) throw new OutOfMemoryException("ZSTD_createDCtx failed");
        }

        public override void SetParameter(ZstdDParameter parameter, int value) =>
            Check(DCtxSetParameter(_context, parameter, value), $"set {parameter}={value}");

        public override void ReferencePrefix(byte* prefix, nuint size) => Check(DCtxRefPrefix(_context, prefix, size), "reference prefix");

        public override nuint Decompress(ZstdOutBuffer* output, ZstdInBuffer* input) =>
            Check(DecompressStream(_context, output, input), "decompress");

        public override int InputBufferSize => (int)DStreamInSize();

        public override void Dispose() => _context.Dispose();
    }
}

using ZstdSharp.Unsafe;
using static ZstdSharp.Unsafe.Methods;

namespace Doras.Delta.Zstd;

/// <summary>zstd through ZstdSharp, libzstd ported to C#: no native library, so it runs on any device.</summary>
internal sealed class ManagedZstdCodec : ZstdCodec
{
    public override string Name { get; } = $"ZstdSharp (managed) {FormatVersion(ZSTD_versionNumber())}";

    internal override ZstdCompressionContext CreateCompressor() => new Compression();

    internal override ZstdDecompressionContext CreateDecompressor() => new Decompression();

    private static nuint Check(nuint result, string operation) =>
        ZSTD_isError(result) ? throw new ZstdException($"zstd {operation} failed: {ZSTD_getErrorName(result)}") : result;

    private sealed unsafe class Compression : ZstdCompressionContext
    {
        private ZSTD_CCtx_s* _context = ZSTD_createCCtx();

        public Compression()
        {
            if (_context is null) throw new OutOfMemoryException("ZSTD_createCCtx failed");
        }

        public override void SetParameter(ZstdCParameter parameter, int value) =>
            Check(ZSTD_CCtx_setParameter(_context, (ZSTD_cParameter)parameter, value), $"set {parameter}={value}");

        public override void SetPledgedSize(ulong size) => Check(ZSTD_CCtx_setPledgedSrcSize(_context, size), "set pledged size");

        public override void ReferencePrefix(byte* prefix, nuint size) => Check(ZSTD_CCtx_refPrefix(_context, prefix, size), "reference prefix");

        public override nuint Compress(ZstdOutBuffer* output, ZstdInBuffer* input, ZstdEndDirective directive) =>
            Check(ZSTD_compressStream2(_context, (ZSTD_outBuffer_s*)output, (ZSTD_inBuffer_s*)input, (ZSTD_EndDirective)directive), "compress");

        public override int OutputBufferSize => (int)ZSTD_CStreamOutSize();

        public override void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        ~Compression() => Free(); // a context is native memory even in the port: never leak it

        private void Free()
        {
            if (_context is null) return;
            ZSTD_freeCCtx(_context);
            _context = null;
        }
    }

    private sealed unsafe class Decompression : ZstdDecompressionContext
    {
        private ZSTD_DCtx_s* _context = ZSTD_createDCtx();

        public Decompression()
        {
            if (_context is null) throw new OutOfMemoryException("ZSTD_createDCtx failed");
        }

        public override void SetParameter(ZstdDParameter parameter, int value) =>
            Check(ZSTD_DCtx_setParameter(_context, (ZSTD_dParameter)parameter, value), $"set {parameter}={value}");

        public override void ReferencePrefix(byte* prefix, nuint size) => Check(ZSTD_DCtx_refPrefix(_context, prefix, size), "reference prefix");

        public override nuint Decompress(ZstdOutBuffer* output, ZstdInBuffer* input) =>
            Check(ZSTD_decompressStream(_context, (ZSTD_outBuffer_s*)output, (ZSTD_inBuffer_s*)input), "decompress");

        public override int InputBufferSize => (int)ZSTD_DStreamInSize();

        public override void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        ~Decompression() => Free(); // a context is native memory even in the port: never leak it

        private void Free()
        {
            if (_context is null) return;
            ZSTD_freeDCtx(_context);
            _context = null;
        }
    }
}

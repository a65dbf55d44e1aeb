namespace Doras.Delta.Zstd;

/// <summary>
/// A read-only stream of the decompressed content of a zstd stream (one or more frames; skippable frames are
/// passed over). With a prefix it applies a patch-from delta. A truncated input, a corrupt frame, a wrong
/// prefix caught by the frame checksum, or output past <see cref="ZstdDecompressionOptions.MaxOutputBytes"/>
/// all throw; none of them ends the stream quietly. A codec not given is <see cref="ZstdCodec.Default"/>.
/// </summary>
public sealed class ZstdDecoderStream : Doras.Oci.Content.ReadOnlyStream
{
    private readonly Stream _input;
    private readonly bool _leaveOpen;
    private readonly ZstdDecompressionContext _context;
    private readonly NativeView? _prefix;
    private readonly long _maxOutput;
    private readonly byte[] _inBuffer;
    private int _inPos, _inLen;
    private bool _inputEnded;
    private bool _frameOpen;     // started a frame that has not ended yet
    private bool _sawAnyInput;
    private bool _prefixUsed;
    private long _produced;

    public ZstdDecoderStream(Stream input, ZstdDecompressionOptions? options = null, NativeView? prefix = null, bool leaveOpen = false, ZstdCodec? codec = null)
    {
        options ??= new ZstdDecompressionOptions();
        _input = input;
        _leaveOpen = leaveOpen;
        _prefix = prefix;
        _maxOutput = options.MaxOutputBytes;
        _context = (codec ?? ZstdCodec.Default).CreateDecompressor();
        try
        {
            _inBuffer = new byte[_context.InputBufferSize];
            _context.SetParameter(ZstdDParameter.WindowLogMax, options.WindowLogMax);
            ReferencePrefix();
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>A prefix applies to one frame only; a delta is exactly one frame, so only the first gets it.</summary>
    private unsafe void ReferencePrefix()
    {
        if (_prefix is { Length: > 0 } && !_prefixUsed)
            _context.ReferencePrefix(_prefix.Pointer, (nuint)_prefix.Length);
        _prefixUsed = true;
    }

    public long BytesProduced => _produced;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_inPos == _inLen && !_inputEnded)
            {
                _inLen = _input.Read(_inBuffer, 0, _inBuffer.Length);
                _inPos = 0;
                if (_inLen == 0) _inputEnded = true;
            }
            var n = Step(buffer, out var needMoreInput);
            if (n > 0) return n;
            if (needMoreInput && _inputEnded) return End();
        }
    }


    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_inPos == _inLen && !_inputEnded)
            {
                _inLen = await _input.ReadAsync(_inBuffer, cancellationToken).ConfigureAwait(false);
                _inPos = 0;
                if (_inLen == 0) _inputEnded = true;
            }
            var n = Step(buffer.Span, out var needMoreInput);
            if (n > 0) return n;
            if (needMoreInput && _inputEnded) return End();
        }
    }


    /// <summary>Decodes what the buffered input allows into <paramref name="output"/>.</summary>
    private unsafe int Step(Span<byte> output, out bool needMoreInput)
    {
        if (_inLen > _inPos) _sawAnyInput = true;
        fixed (byte* src = _inBuffer)
        fixed (byte* dst = output)
        {
            var inBuf = new ZstdInBuffer { Src = src + _inPos, Size = (nuint)(_inLen - _inPos) };
            var outBuf = new ZstdOutBuffer { Dst = dst, Size = (nuint)output.Length };
            var hint = _context.Decompress(&outBuf, &inBuf);
            var consumed = (int)inBuf.Pos;
            _inPos += consumed;
            if (consumed > 0 || outBuf.Pos > 0) _frameOpen = hint != 0;
            else if (hint == 0) _frameOpen = false;
            var produced = (int)outBuf.Pos;
            _produced += produced;
            if (_produced > _maxOutput)
                throw new ZstdException($"decompressed content exceeds the limit of {_maxOutput} bytes");
            // Output full: zstd may hold more; input used up: we must read more before it can go on.
            needMoreInput = produced < output.Length && _inPos == _inLen;
            return produced;
        }
    }

    private int End()
    {
        if (!_sawAnyInput) throw new ZstdException("zstd stream is empty");
        if (_frameOpen) throw new ZstdException("zstd stream is truncated: it ended inside a frame");
        return 0;
    }

    public override long Position { get => _produced; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _context.Dispose();
            if (!_leaveOpen) _input.Dispose();
            GC.KeepAlive(_prefix);
        }
        base.Dispose(disposing);
    }
}

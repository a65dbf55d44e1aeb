namespace Doras.Delta.Zstd;

/// <summary>
/// A write-only stream that zstd-compresses into another stream, one frame per encoder. Optionally refers
/// to a prefix (the old version of a file) so the frame is a patch-from delta. Dispose (or
/// <see cref="FinishAsync"/>) ends the frame. A codec not given is <see cref="ZstdCodec.Default"/>. A frame whose
/// writing failed, or that was given less than its pledged size, is abandoned on dispose, not ended: zstd would refuse
/// to end it ("Src size is incorrect"), and that error would hide why the writing stopped (a cancellation, a full disk).
/// </summary>
public sealed class ZstdEncoderStream : Stream
{
    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly ZstdCompressionContext _context;
    private readonly NativeView? _prefix; // must stay mapped until the frame ends
    private readonly byte[] _buffer;
    private bool _finished;
    private bool _failed;
    private readonly long? _pledged;
    private long _written;

    public ZstdEncoderStream(Stream output, ZstdCompressionOptions options, NativeView? prefix = null, bool leaveOpen = false, ZstdCodec? codec = null)
    {
        _output = output;
        _leaveOpen = leaveOpen;
        _prefix = prefix;
        _pledged = options.PledgedSize;
        _context = (codec ?? ZstdCodec.Default).CreateCompressor();
        try
        {
            _buffer = new byte[_context.OutputBufferSize];
            Configure(_context, options, prefix);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>Gives a new compression context <paramref name="options"/> and the prefix (the one place they are set).</summary>
    internal static unsafe void Configure(ZstdCompressionContext context, ZstdCompressionOptions options, NativeView? prefix)
    {
        context.SetParameter(ZstdCParameter.CompressionLevel, options.Level);
        context.SetParameter(ZstdCParameter.ChecksumFlag, options.Checksum ? 1 : 0);
        if (options.WindowLog > 0) context.SetParameter(ZstdCParameter.WindowLog, options.WindowLog);
        if (options.LongDistanceMatching) context.SetParameter(ZstdCParameter.EnableLongDistanceMatching, 1);
        if (options.Workers > 0) context.SetParameter(ZstdCParameter.NbWorkers, options.Workers);
        if (options.PledgedSize is { } size) context.SetPledgedSize((ulong)size);
        else if (options.SizeHint is { } hint) context.SetParameter(ZstdCParameter.SourceSizeHint, (int)Math.Clamp(hint, 1, int.MaxValue));
        // Neither given: at most a window's worth is referenced at once, so tables sized for more would only cost
        // memory (level 19 takes tables for inputs of any size otherwise; see SizeHint).
        else if (options.WindowLog > 0) context.SetParameter(ZstdCParameter.SourceSizeHint, 1 << Math.Min(options.WindowLog, 30));
        if (prefix is { Length: > 0 }) context.ReferencePrefix(prefix.Pointer, (nuint)prefix.Length);
    }

    /// <summary>Compresses as much of <paramref name="input"/> as fits; returns bytes consumed and produced.</summary>
    private unsafe (int Consumed, int Produced, bool Done) Step(ReadOnlySpan<byte> input, ZstdEndDirective directive)
    {
        fixed (byte* src = input)
        fixed (byte* dst = _buffer)
        {
            var inBuf = new ZstdInBuffer { Src = src, Size = (nuint)input.Length };
            var outBuf = new ZstdOutBuffer { Dst = dst, Size = (nuint)_buffer.Length };
            var remaining = _context.Compress(&outBuf, &inBuf, directive);
            return ((int)inBuf.Pos, (int)outBuf.Pos, remaining == 0);
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ThrowIfFinished();
        try
        {
            while (!buffer.IsEmpty)
            {
                var (consumed, produced, _) = Step(buffer, ZstdEndDirective.Continue);
                _output.Write(_buffer, 0, produced);
                buffer = buffer[consumed..];
                _written += consumed;
            }
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfFinished();
        try
        {
            while (!buffer.IsEmpty)
            {
                var (consumed, produced, _) = Step(buffer.Span, ZstdEndDirective.Continue);
                await _output.WriteAsync(_buffer.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
                buffer = buffer[consumed..];
                _written += consumed;
            }
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Ends the frame: flushes everything zstd still holds, then the output stream.</summary>
    public async Task FinishAsync(CancellationToken ct = default)
    {
        if (_finished) return;
        try
        {
            bool done;
            do
            {
                (_, var produced, done) = Step(ReadOnlySpan<byte>.Empty, ZstdEndDirective.End);
                await _output.WriteAsync(_buffer.AsMemory(0, produced), ct).ConfigureAwait(false);
            } while (!done);
            _finished = true;
            await _output.FlushAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    private void Finish()
    {
        if (_finished) return;
        try
        {
            bool done;
            do
            {
                (_, var produced, done) = Step(ReadOnlySpan<byte>.Empty, ZstdEndDirective.End);
                _output.Write(_buffer, 0, produced);
            } while (!done);
            _finished = true;
            _output.Flush();
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    private void ThrowIfFinished() => ObjectDisposedException.ThrowIf(_finished, this);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Whether disposing ends the frame: not after a failed write, nor short of the pledged size (see the class).</summary>
    private bool EndsOnDispose => !_failed && (_pledged is not { } pledged || _written == pledged);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try { if (EndsOnDispose) Finish(); }
            finally { Release(); }
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        try { if (EndsOnDispose) await FinishAsync().ConfigureAwait(false); }
        finally { Release(); }
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        _finished = true;
        _context.Dispose();
        if (!_leaveOpen) _output.Dispose();
        GC.KeepAlive(_prefix);
    }
}

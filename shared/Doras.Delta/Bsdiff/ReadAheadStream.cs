using System.Runtime.ExceptionServices;
using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads a decoder ahead on a thread of its own into a few fixed buffers (<see cref="BufferRing"/>), so decoding a part
/// (LZMA2 or zstd) runs beside the apply that consumes it instead of before each of its reads: on a device with two
/// cores the apply of biome's delta no longer waits for liblzma, and the apply's many small reads (a run of
/// differences can be a byte) are copies from a buffer instead of one call into the decoder each. The inner stream is
/// read only by that thread until it ends or this stream is disposed; its errors surface here.
/// </summary>
internal sealed class ReadAheadStream : Doras.Oci.Content.ReadOnlyStream
{
    private const int BufferBytes = BufferRing.BufferBytes;

    private readonly Stream _inner;
    private readonly BufferRing _ring = new();
    private readonly Thread _reader;
    private volatile bool _stopping;
    private ExceptionDispatchInfo? _failure;

    // The consumer's place: the buffer it reads (null before the first), its length and how far into it.
    private byte[]? _current;
    private int _length;
    private int _offset;
    private bool _ended;

    public ReadAheadStream(Stream inner)
    {
        _inner = inner;
        _reader = new Thread(ReadAhead) { IsBackground = true, Name = "doras read-ahead" };
        _reader.Start();
    }

    private void ReadAhead()
    {
        while (true)
        {
            var buffer = _ring.NextFree();
            if (_stopping) return;
            int length;
            try
            {
                // Whole buffers: fewer hand-overs between the threads.
                length = _inner.ReadAtLeast(buffer, BufferBytes, throwOnEndOfStream: false);
            }
            catch (Exception e)
            {
                _failure = ExceptionDispatchInfo.Capture(e);
                length = -1;
            }
            _ring.Filled(length);
            if (length < BufferBytes) return; // the end, or a failure: nothing more to read
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_ended) return 0;
            if (_current is not null && _offset < _length)
            {
                var n = Math.Min(buffer.Length, _length - _offset);
                _current.AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }
            if (_current is not null && _length < BufferBytes) { _ended = true; return 0; } // a short buffer was the last
            if (_current is not null) _ring.Consumed();
            (_current, _length) = _ring.NextFilled();
            _offset = 0;
            if (_length < 0) { _ended = true; _failure!.Throw(); }
        }
    }

    /// <summary>The decoding happens on the reader thread; this only copies out of its buffers (or waits for one).</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // The reader thread finishes the buffer it decodes, sees the stop, and leaves the inner stream to us.
            _stopping = true;
            _ring.Abandon();
            _reader.Join();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        await ValueTask.CompletedTask.ConfigureAwait(false);
    }
}

using System.Runtime.ExceptionServices;
using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Reads a decoder ahead on a thread of its own into a few fixed buffers, so decoding a part (LZMA2 or zstd) runs
/// beside the apply that consumes it instead of before each of its reads: on a device with two cores the apply of
/// biome's delta no longer waits for liblzma, and the apply's many small reads (a run of differences can be a byte)
/// are copies from a buffer instead of one call into the decoder each. Memory: <c>Buffers</c> x <c>BufferBytes</c>.
/// The inner stream is read only by that thread until it ends or this stream is disposed; its errors surface here.
/// </summary>
internal sealed class ReadAheadStream : Doras.Oci.Content.ReadOnlyStream
{
    private const int Buffers = 4;
    private const int BufferBytes = 64 << 10;

    private readonly Stream _inner;
    private readonly byte[][] _buffers = new byte[Buffers][];
    private readonly int[] _lengths = new int[Buffers];
    private readonly BlockingCount _filled = new(0, Buffers);
    private readonly BlockingCount _free = new(Buffers, Buffers);
    private readonly Thread _reader;
    private volatile bool _stopping;
    private ExceptionDispatchInfo? _failure;

    // The consumer's place: the buffer it reads (-1 before the first) and how far into it.
    private int _current = -1;
    private int _offset;
    private bool _ended;

    public ReadAheadStream(Stream inner)
    {
        _inner = inner;
        for (var i = 0; i < Buffers; i++) _buffers[i] = new byte[BufferBytes];
        _reader = new Thread(ReadAhead) { IsBackground = true, Name = "doras read-ahead" };
        _reader.Start();
    }

    private void ReadAhead()
    {
        for (var next = 0; ; next = (next + 1) % Buffers)
        {
            _free.Wait();
            if (_stopping) return;
            int length;
            try
            {
                // Whole buffers: fewer hand-overs between the threads.
                length = _inner.ReadAtLeast(_buffers[next], BufferBytes, throwOnEndOfStream: false);
            }
            catch (Exception e)
            {
                _failure = ExceptionDispatchInfo.Capture(e);
                length = -1;
            }
            _lengths[next] = length;
            _filled.Release();
            if (length < BufferBytes) return; // the end, or a failure: nothing more to read
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_ended) return 0;
            if (_current >= 0 && _offset < _lengths[_current])
            {
                var n = Math.Min(buffer.Length, _lengths[_current] - _offset);
                _buffers[_current].AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }
            if (_current >= 0 && _lengths[_current] < BufferBytes) { _ended = true; return 0; } // a short buffer was the last
            if (_current >= 0) _free.Release();
            _filled.Wait();
            _current = (_current + 1) % Buffers;
            _offset = 0;
            if (_lengths[_current] < 0) { _ended = true; _failure!.Throw(); }
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
            _free.Fill();
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

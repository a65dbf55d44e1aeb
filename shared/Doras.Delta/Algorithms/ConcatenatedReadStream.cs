namespace Doras.Delta.Algorithms;

/// <summary>Reads one stream after another, as if they were one (for bytes already read ahead).</summary>
internal sealed class ConcatenatedReadStream(Stream first, Stream second) : Stream
{
    private bool _onSecond;

    public override int Read(Span<byte> buffer)
    {
        if (!_onSecond)
        {
            var n = first.Read(buffer);
            if (n > 0) return n;
            _onSecond = true;
        }
        return second.Read(buffer);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_onSecond)
        {
            var n = await first.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n > 0) return n;
            _onSecond = true;
        }
        return await second.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

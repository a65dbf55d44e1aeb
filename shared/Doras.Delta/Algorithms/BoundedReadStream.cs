namespace Doras.Delta.Algorithms;

/// <summary>
/// The next <c>length</c> bytes of a stream, as a stream of their own (for a length-prefixed part of a delta). With
/// <c>truncated</c>, an inner stream that ends before them is a <see cref="CorruptDeltaException"/> with that message.
/// </summary>
internal sealed class BoundedReadStream(Stream inner, long length, bool ownsInner = false, string? truncated = null) : Doras.Oci.Content.ReadOnlyStream
{
    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsInner) inner.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Bytes of the part not read yet.</summary>
    public long Remaining { get; private set; } = length;

    public override int Read(Span<byte> buffer)
    {
        if (Remaining == 0 || buffer.IsEmpty) return 0;
        var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, Remaining)]);
        Remaining -= n;
        return n == 0 && truncated is not null ? throw new CorruptDeltaException(truncated) : n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Remaining == 0 || buffer.IsEmpty) return 0;
        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, Remaining)], cancellationToken).ConfigureAwait(false);
        Remaining -= n;
        return n == 0 && truncated is not null ? throw new CorruptDeltaException(truncated) : n;
    }
}

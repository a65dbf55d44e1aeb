namespace Doras.Delta.Algorithms;

/// <summary>Reads one stream after another, as if they were one (for bytes already read ahead).</summary>
internal sealed class ConcatenatedReadStream(Stream first, Stream second) : Doras.Oci.Content.ReadOnlyStream
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

}

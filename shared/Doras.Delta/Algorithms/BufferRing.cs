namespace Doras.Delta.Algorithms;

/// <summary>
/// A few fixed buffers handed round between one producer thread and one consumer thread, so the two work side by side
/// (<see cref="Bsdiff.ReadAheadStream"/>: a decoder fills, the apply reads; <see cref="DigestingWriteStream"/>: the
/// apply fills, a hash reads). Each buffer is the producer's from <see cref="NextFree"/> until <see cref="Filled"/>,
/// then the consumer's from <see cref="NextFilled"/> until <see cref="Consumed"/>; both go round in the same order.
/// A length under zero is the producer's mark for "no more" (its end or its failure), which the consumer must
/// recognise. Memory: <see cref="Count"/> x <see cref="BufferBytes"/>.
/// </summary>
internal sealed class BufferRing
{
    public const int Count = 4;
    public const int BufferBytes = 64 << 10;

    private readonly byte[][] _buffers = new byte[Count][];
    private readonly int[] _lengths = new int[Count];
    private readonly BlockingCount _filled = new(0, Count);
    private readonly BlockingCount _free = new(Count, Count);
    private int _producing = -1;
    private int _consuming = -1;

    public BufferRing()
    {
        for (var i = 0; i < Count; i++) _buffers[i] = new byte[BufferBytes];
    }

    /// <summary>Producer: waits until the next buffer is free, and takes it.</summary>
    public byte[] NextFree()
    {
        _free.Wait();
        _producing = (_producing + 1) % Count;
        return _buffers[_producing];
    }

    /// <summary>Producer: hands the buffer it took to the consumer, holding <paramref name="length"/> bytes (under zero: no more).</summary>
    public void Filled(int length)
    {
        _lengths[_producing] = length;
        _filled.Release();
    }

    /// <summary>Consumer: waits until the next buffer is filled, and takes it with its length.</summary>
    public (byte[] Buffer, int Length) NextFilled()
    {
        _filled.Wait();
        _consuming = (_consuming + 1) % Count;
        return (_buffers[_consuming], _lengths[_consuming]);
    }

    /// <summary>Consumer: gives the buffer it took back to the producer.</summary>
    public void Consumed() => _free.Release();

    /// <summary>Consumer: stops taking buffers; a producer waiting for a free one gets one at once (and should look why).</summary>
    public void Abandon() => _free.Fill();
}

namespace Doras.Delta.Zstd;

/// <summary>
/// Compresses a whole mapped file into one zstd frame with zstd reading it in place (ZSTD_c_stableInBuffer): zstd then
/// keeps no copy of its window (a patch-from delta's window covers the file: 240 MiB of copy on the firmware image),
/// and the mapped pages behind what it has compressed are given back to the system (<see cref="MappedPages"/>); those it
/// reads again for a match fault back in from the page cache. The same frame as <see cref="ZstdEncoderStream"/> fed the
/// same bytes with the same options, but for a file of a whole number of zstd blocks (128 KiB), whose last block this
/// marks as last where the stream adds an empty one (3 bytes). The firmware image's level-19 delta: 636 -> 492 MiB peak.
/// Single-threaded options only (<see cref="ZstdCompressionOptions.Workers"/> 0).
/// </summary>
internal static class ZstdFileEncoder
{
    /// <summary>How much more of the file zstd is shown at each step.</summary>
    private const int Step = 1 << 20;

    /// <summary>What is behind zstd's position is given back in steps of this much.</summary>
    private const long GiveBackStep = 8 << 20;

    public static async Task CompressAsync(NativeView source, Stream output, ZstdCompressionOptions options, NativeView? prefix, ZstdCodec? codec = null,
        CancellationToken ct = default)
    {
        if (options.Workers > 0) throw new ArgumentException("in-place compression is single-threaded", nameof(options));
        codec ??= ZstdCodec.Default;
        if (!codec.TakesGrowingStableInput) throw new NotSupportedException($"{codec.Name} cannot compress a growing input in place");
        using var context = codec.CreateCompressor();
        ZstdEncoderStream.Configure(context, options, prefix);
        context.SetParameter(ZstdCParameter.StableInBuffer, 1);
        var buffer = new byte[context.OutputBufferSize];
        // zstd sees the same buffer throughout, only its size grows (what stableInBuffer requires); it moves the position.
        long size = 0, position = 0, given = 0;
        var prefixGiven = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            size = Math.Min(source.Length, size + Step);
            var directive = size == source.Length ? ZstdEndDirective.End : ZstdEndDirective.Continue;
            bool done;
            do
            {
                (var produced, position, done) = Compress(context, source, size, position, buffer, directive);
                await output.WriteAsync(buffer.AsMemory(0, produced), ct).ConfigureAwait(false);
            } while (directive == ZstdEndDirective.End ? !done : position < size);
            if (directive == ZstdEndDirective.End) return;
            // zstd indexed the whole prefix at its first step; from then on it reads only where a match points, so the
            // prefix's pages can go too (those it reads fault back in).
            if (!prefixGiven && prefix is { IsFileMapping: true })
            {
                GiveBack(prefix, 0, prefix.Length);
                prefixGiven = true;
            }
            if (source.IsFileMapping && position - given >= GiveBackStep)
            {
                GiveBack(source, given, position);
                given = position;
            }
        }
    }

    private static unsafe void GiveBack(NativeView source, long from, long to) => MappedPages.Release(source.Pointer + from, to - from);

    /// <summary>One call of zstd over source[0, <paramref name="size"/>) from <paramref name="position"/>: bytes produced, the new position, whether the frame is complete.</summary>
    private static unsafe (int Produced, long Position, bool Done) Compress(ZstdCompressionContext context, NativeView source, long size, long position, byte[] buffer,
        ZstdEndDirective directive)
    {
        fixed (byte* dst = buffer)
        {
            var inBuf = new ZstdInBuffer { Src = source.Pointer, Size = (nuint)size, Pos = (nuint)position };
            var outBuf = new ZstdOutBuffer { Dst = dst, Size = (nuint)buffer.Length };
            var remaining = context.Compress(&outBuf, &inBuf, directive);
            return ((int)outBuf.Pos, (long)inBuf.Pos, remaining == 0);
        }
    }
}

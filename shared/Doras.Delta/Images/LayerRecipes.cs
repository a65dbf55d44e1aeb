using Doras.Oci.Images;

namespace Doras.Delta.Images;

/// <summary>
/// The server's side of <see cref="LayerRecipe"/>: finds how a published layer blob is made from its tar, proved by
/// replaying the recipe and comparing every byte with the blob. Null when nothing here reproduces it (a zstd frame
/// of another encoder, a gzip stream the reconstruction cannot follow): then the layer itself travels.
/// </summary>
public static class LayerRecipes
{
    /// <summary>zstd levels in the order image tools use them (3 is zstd's and containers' default).</summary>
    private static readonly int[] ZstdLevels = [3, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, LayerRecipe.MaxZstdLevel];

    public static async Task<LayerRecipe?> FindAsync(LayerCompression compression, string blobPath, string tarPath, CancellationToken ct)
    {
        switch (compression)
        {
            case LayerCompression.None:
                return await ReproducesAsync(new LayerRecipe.Uncompressed(), blobPath, tarPath, ct).ConfigureAwait(false) ? new LayerRecipe.Uncompressed() : null;
            case LayerCompression.Zstd:
                if (ZstdFrameOptions(blobPath) is not var (checksum, contentSize)) return null;
                foreach (var level in ZstdLevels)
                {
                    var recipe = new LayerRecipe.Zstd(level, checksum, contentSize);
                    if (await ReproducesAsync(recipe, blobPath, tarPath, ct).ConfigureAwait(false)) return recipe;
                }
                return null;
            case LayerCompression.Gzip:
                // The analysis proves its recipe itself, by rebuilding the blob from it.
                return await Task.Run(() => GzipLayers.Analyze(blobPath, tarPath, ct), ct).ConfigureAwait(false);
            default:
                return null;
        }
    }

    /// <summary>Whether replaying <paramref name="recipe"/> gives the blob byte for byte (stopping at the first difference).</summary>
    public static async Task<bool> ReproducesAsync(LayerRecipe recipe, string blobPath, string tarPath, CancellationToken ct)
    {
        await using var blob = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var comparing = new ComparingWriteStream(blob);
        try
        {
            await recipe.WriteAsync(tarPath, comparing, ct).ConfigureAwait(false);
        }
        catch (ComparingWriteStream.DiffersException) { return false; }
        return comparing.Compared == blob.Length;
    }

    /// <summary>The checksum and content-size flags of a single zstd frame's header (RFC 8878 3.1.1.1), or null when it is not one.</summary>
    private static (bool Checksum, bool ContentSize)? ZstdFrameOptions(string blobPath)
    {
        Span<byte> header = stackalloc byte[5];
        using var blob = File.OpenHandle(blobPath);
        if (RandomAccess.Read(blob, header, 0) < 5 || header[0] != 0x28 || header[1] != 0xB5 || header[2] != 0x2F || header[3] != 0xFD) return null;
        var descriptor = header[4];
        var sizeFlag = descriptor >> 6;
        var singleSegment = (descriptor & 0x20) != 0;
        return ((descriptor & 0x04) != 0, sizeFlag != 0 || singleSegment);
    }

    /// <summary>A sink that compares what is written with a file, failing at the first byte that differs or runs past it.</summary>
    private sealed class ComparingWriteStream(Stream expected) : Stream
    {
        private readonly byte[] _buffer = new byte[1 << 16];

        public sealed class DiffersException() : Exception("the output differs from the published blob"), Doras.Oci.IFailure
        {
            public Doras.Oci.FailureKind Kind => Doras.Oci.FailureKind.Incompatible; // this recipe does not make the blob; never leaves FindAsync
        }

        public long Compared { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (!buffer.IsEmpty)
            {
                var chunk = Math.Min(buffer.Length, _buffer.Length);
                var read = expected.ReadAtLeast(_buffer.AsSpan(0, chunk), chunk, throwOnEndOfStream: false);
                if (read < chunk || !buffer[..chunk].SequenceEqual(_buffer.AsSpan(0, chunk))) throw new DiffersException();
                Compared += chunk;
                buffer = buffer[chunk..];
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Compared; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

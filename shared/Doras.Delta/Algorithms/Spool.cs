namespace Doras.Delta.Algorithms;

/// <summary>
/// Bytes written once, front to back, then read back: held in memory up to <c>memoryBytes</c>, past that in a hidden
/// file of <c>directory</c> that deletes itself when the spool is disposed. Small spools never touch the disk; large
/// ones never hold their bytes in memory (the memory they had is garbage once they move to the file).
/// </summary>
internal sealed class Spool(string directory, string name, int memoryBytes) : Stream
{
    private Stream _inner = new MemoryStream();

    /// <summary>Whether the bytes went to a file (the memory they had is garbage now).</summary>
    public bool InFile => _inner is FileStream;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_inner is MemoryStream memory && memory.Length + buffer.Length > memoryBytes)
        {
            var file = new FileStream(Path.Combine(directory, $".doras-{name}-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
                1 << 16, FileOptions.DeleteOnClose);
            try { file.Write(memory.GetBuffer(), 0, (int)memory.Length); }
            catch
            {
                file.Dispose();
                throw;
            }
            _inner = file;
        }
        _inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override int Read(Span<byte> buffer) => _inner.Read(buffer);

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _inner.ReadAsync(buffer, cancellationToken);

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => true;
    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Position;
        set => _inner.Position = value;
    }

    public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Flush() => _inner.Flush();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

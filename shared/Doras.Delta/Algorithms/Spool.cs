namespace Doras.Delta.Algorithms;

/// <summary>
/// Bytes written once, front to back, then read back: held in memory up to <c>memoryBytes</c>, past that in a file of
/// <c>directory</c> whose name is removed as soon as it is open (Linux keeps an open file's bytes until it is closed), so
/// neither a crash nor a kill leaves it behind. Small spools never touch the disk; large ones never hold their bytes in
/// memory (what they had is garbage once they move to the file). With <c>elseTemporary</c>, a directory that cannot take
/// the file (read-only) gives way to the system's temporary directory: for builds beside a user's read-only files, not
/// for a device's apply, whose temporary directory may be memory.
/// </summary>
internal sealed class Spool(string directory, string name, int memoryBytes, bool elseTemporary = false) : Stream
{
    private Stream _inner = new MemoryStream();

    /// <summary>Whether the bytes went to a file (the memory they had is garbage now).</summary>
    public bool InFile => _inner is FileStream;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_inner is MemoryStream memory && memory.Length + buffer.Length > memoryBytes)
        {
            FileStream file;
            try { file = CreateFile(directory); }
            catch (Exception e) when (elseTemporary && e is UnauthorizedAccessException or IOException) { file = CreateFile(Path.GetTempPath()); }
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

    private FileStream CreateFile(string where)
    {
        var path = Path.Combine(where, $".doras-{name}-{Guid.NewGuid():N}");
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None);
        if (OperatingSystem.IsWindows()) return file;
        try { File.Delete(path); }
        catch
        {
            file.Dispose();
            throw;
        }
        return file;
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

namespace Doras.Delta.Algorithms;

/// <summary>
/// Bytes written once, front to back, then read back: held in memory up to <c>memoryBytes</c>, past that in a file of
/// <c>directory</c> (owner-only) whose name is removed as soon as it is open (Linux keeps an open file's bytes until it is
/// closed), so neither a crash nor a kill leaves it behind. Small spools never touch the disk; large ones never hold
/// their bytes in memory (what they had is garbage once they move to the file). Writing after reading or moving the
/// position is refused: the memory bound is kept on the length written. With <c>elseTemporary</c>, a directory that
/// refuses the file (no permission, a read-only file system) gives way to the system's temporary directory: for builds
/// beside a user's read-only files, never for a device's apply, whose temporary directory may be memory. Any other
/// failure (a missing directory, a full disk) is the spool's.
/// </summary>
internal sealed class Spool(string directory, string name, int memoryBytes, bool elseTemporary = false) : Stream
{
    /// <summary>EROFS: Linux's "read-only file system", the errno .NET leaves in an IOException's HResult.</summary>
    private const int ReadOnlyFileSystem = 30;

    private Stream _inner = new MemoryStream();
    private bool _reading;
    private bool _disposed;

    /// <summary>Whether the bytes went to a file (the memory they had is garbage now).</summary>
    public bool InFile => _inner is FileStream;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_reading) throw new InvalidOperationException("a spool is written once, front to back, then read");
        if (_inner is MemoryStream memory && memory.Length + buffer.Length > memoryBytes)
        {
            FileStream file;
            try { file = CreateFile(directory); }
            catch (Exception e) when (elseTemporary && (e is UnauthorizedAccessException || e is IOException { HResult: ReadOnlyFileSystem })) { file = CreateFile(Path.GetTempPath()); }
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

    /// <summary>A new owner-only file in <paramref name="where"/>; its name goes at once, and failing that when it is closed.</summary>
    private FileStream CreateFile(string where)
    {
        var path = Path.Combine(where, $".doras-{name}-{Guid.NewGuid():N}");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None, BufferSize = 1 << 16, Options = FileOptions.DeleteOnClose };
        if (OperatingSystem.IsWindows()) return new FileStream(path, options);
        options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var file = new FileStream(path, options);
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // DeleteOnClose still removes it
        return file;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override int Read(Span<byte> buffer) => Reader.Read(buffer);

    public override int Read(byte[] buffer, int offset, int count) => Reader.Read(buffer, offset, count);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Reader.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Reader.ReadAsync(buffer, cancellationToken);

    /// <summary>The stream to read or position, once writing is over.</summary>
    private Stream Reader
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _reading = true;
            return _inner;
        }
    }

    public override bool CanRead => !_disposed;
    public override bool CanSeek => !_disposed;
    public override bool CanWrite => !_disposed && !_reading;
    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Position;
        set => Reader.Position = value;
    }

    public override long Seek(long offset, SeekOrigin origin) => Reader.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Flush() => _inner.Flush();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed = true;
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _disposed = true;
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

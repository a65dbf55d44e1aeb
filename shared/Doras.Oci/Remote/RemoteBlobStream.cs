using Doras.Oci.Model;

namespace Doras.Oci.Remote;

/// <summary>
/// A registry blob seen as a seekable stream, so the server's /v2 endpoint can pass a device's Range request
/// through to the registry: seeking reopens the download at the new offset; nothing is buffered.
/// </summary>
internal sealed class RemoteBlobStream : Stream
{
    private readonly RemoteRepository _repository;
    private readonly Descriptor _blob;
    private Stream? _body;
    private long _position;

    private RemoteBlobStream(RemoteRepository repository, Descriptor blob) => (_repository, _blob) = (repository, blob);

    public static async Task<Stream?> OpenAsync(RemoteRepository repository, Digest digest, CancellationToken ct)
    {
        var size = await repository.StatBlobAsync(digest, ct).ConfigureAwait(false);
        return size is null ? null : new RemoteBlobStream(repository, new Descriptor { MediaType = MediaTypes.OctetStream, Digest = digest, Size = size.Value });
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position >= _blob.Size) return 0;
        _body ??= await _repository.FetchFromAsync(_blob, _position, cancellationToken).ConfigureAwait(false);
        var n = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => _blob.Size + offset };
        if (target != _position)
        {
            _body?.Dispose();
            _body = null;
            _position = Math.Clamp(target, 0, _blob.Size);
        }
        return _position;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _blob.Size;
    public override long Position { get => _position; set => Seek(value, SeekOrigin.Begin); }
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _body?.Dispose();
        base.Dispose(disposing);
    }
}

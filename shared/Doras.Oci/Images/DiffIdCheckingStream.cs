using System.Security.Cryptography;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Images;

/// <summary>
/// A layer's uncompressed tar as it is read: refused past <see cref="_maxBytes"/> (a gzip bomb stops there, not at
/// the disk's end), and checked against its <c>diff_id</c> at the end, so a tar that disagrees with the config is
/// an error, never a silent success.
/// </summary>
public sealed class DiffIdCheckingStream(Stream inner, Digest diffId, long maxBytes, string what) : ReadOnlyStream
{
    private readonly long _maxBytes = maxBytes;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _checked;

    public long BytesRead => _read;

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        return Account(buffer[..n]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n]);
    }

    private int Account(ReadOnlySpan<byte> read)
    {
        if (read.Length == 0)
        {
            if (!_checked)
            {
                _checked = true;
                var actual = Digest.FromHash(Digest.Sha256, _hash.GetHashAndReset());
                if (actual != diffId) throw new DigestMismatchException($"{what}: the uncompressed layer is {actual}, but the config's diff_id says {diffId}");
            }
            return 0;
        }
        _read += read.Length;
        if (_read > _maxBytes) throw new InvalidDataException($"{what}: the uncompressed layer is over {_maxBytes} bytes (a decompression bomb, or over the limit)");
        _hash.AppendData(read);
        return read.Length;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}

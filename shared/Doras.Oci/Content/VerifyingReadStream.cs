using System.Security.Cryptography;
using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>
/// Reads through to an inner stream while hashing; at its end the content must have exactly the expected
/// size and digest, otherwise the final read throws <see cref="DigestMismatchException"/>. Reading more than
/// the expected size fails at once, so an endless or oversized body cannot fill a disk.
/// </summary>
public sealed class VerifyingReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly IncrementalHash _hash;
    private readonly Digest _expected;
    private readonly long _expectedSize;
    private readonly bool _leaveOpen;
    private long _read;
    private bool _verified;

    public VerifyingReadStream(Stream inner, Digest expected, long expectedSize, bool leaveOpen = false)
        : this(inner, expected, expectedSize, expected.CreateHasher(), 0, leaveOpen) { }

    /// <summary>Continues a verification whose first <paramref name="alreadyRead"/> bytes went into <paramref name="hash"/>.</summary>
    public VerifyingReadStream(Stream inner, Digest expected, long expectedSize, IncrementalHash hash, long alreadyRead, bool leaveOpen = false)
    {
        _inner = inner;
        _expected = expected;
        _expectedSize = expectedSize;
        _hash = hash;
        _read = alreadyRead;
        _leaveOpen = leaveOpen;
    }

    public long BytesRead => _read;

    // A zero-length request is not the end of the stream: only a 0 returned for a non-empty buffer is.
    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        var n = _inner.Read(buffer);
        return Account(buffer[..n]);
    }


    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        var n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n]);
    }


    private int Account(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            Verify();
            return 0;
        }
        _read += data.Length;
        if (_read > _expectedSize)
            throw new DigestMismatchException($"content of {_expected} is longer than its announced size of {_expectedSize} bytes");
        _hash.AppendData(data);
        return data.Length;
    }

    private void Verify()
    {
        if (_verified) return;
        if (_read != _expectedSize)
            throw new DigestMismatchException($"content of {_expected} ended after {_read} of {_expectedSize} bytes");
        var actual = Digest.FromHash(_expected.Algorithm, _hash.GetHashAndReset());
        if (actual != _expected)
            throw new DigestMismatchException($"content digest mismatch: expected {_expected}, got {actual}");
        _verified = true;
    }

    public override long Length => _expectedSize;
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hash.Dispose();
        if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Doras.Oci.IO;
using Doras.Oci.Model;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Algorithms;

/// <summary>
/// Writes a new file front to back through a few buffers of its own (<see cref="BufferRing"/>) and hashes every buffer
/// on a thread of its own while the next one fills, so the digest of what was written is ready when the writing ends:
/// no second pass reads the file back, and on a device with two cores the hash costs the apply no time. The kernel
/// is asked to write what is written to disk as it goes (<see cref="Durable.StartWriteback"/>).
/// <see cref="Finish"/> writes what is left and returns the digest and the bytes written.
/// </summary>
internal sealed class DigestingWriteStream : Stream, IBufferWriter<byte>
{
    private const int BufferBytes = BufferRing.BufferBytes;

    private readonly SafeFileHandle _file;
    private readonly IncrementalHash _hash;
    private readonly string _algorithm;
    private readonly BufferRing _ring = new();
    private readonly Thread _hasher;
    private ExceptionDispatchInfo? _failure;
    private byte[] _current; // the writer's buffer, and how much of it is used
    private int _used;
    private long _written;
    private long _writtenBack; // where the last writeback started ended
    private bool _finished;

    public DigestingWriteStream(SafeFileHandle file, string algorithm)
    {
        _file = file;
        _algorithm = algorithm;
        _hash = IncrementalHash.CreateHash(algorithm == Digest.Sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
        _current = _ring.NextFree();
        _hasher = new Thread(HashBuffers) { IsBackground = true, Name = "doras digest" };
        _hasher.Start();
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written + _used;
    public override long Position { get => Length; set => throw new NotSupportedException(); }

    private void HashBuffers()
    {
        while (true)
        {
            var (buffer, length) = _ring.NextFilled();
            if (length < 0) return; // the writer is done
            try { _hash.AppendData(buffer, 0, length); }
            catch (Exception e) { _failure ??= ExceptionDispatchInfo.Capture(e); }
            _ring.Consumed();
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (!buffer.IsEmpty)
        {
            var n = Math.Min(buffer.Length, BufferBytes - _used);
            buffer[..n].CopyTo(_current.AsSpan(_used));
            _used += n;
            buffer = buffer[n..];
            if (_used == BufferBytes) Hand();
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>
    /// The free rest of the current buffer (handed on first when it has less than <paramref name="sizeHint"/>), so a
    /// writer builds its bytes in place instead of copying them in through <see cref="Write(ReadOnlySpan{byte})"/>.
    /// </summary>
    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sizeHint, BufferBytes);
        if (sizeHint > BufferBytes - _used) Hand();
        return _current.AsMemory(_used);
    }

    /// <summary>Counts <paramref name="count"/> bytes written to the span <see cref="GetSpan"/> gave as output.</summary>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, BufferBytes - _used);
        _used += count;
        if (_used == BufferBytes) Hand();
    }

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>The bytes are written here, synchronously: the file is local and the apply is CPU work anyway.</summary>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes the current buffer to the file and gives it to the hasher; takes the next free one.</summary>
    private void Hand()
    {
        if (_used == 0) return;
        RandomAccess.Write(_file, _current.AsSpan(0, _used), _written);
        _written += _used;
        if (_written - _writtenBack >= Durable.WritebackStretchBytes) _writtenBack = Durable.StartWriteback(_file, _writtenBack, _written);
        _ring.Filled(_used);
        _current = _ring.NextFree();
        _used = 0;
    }

    /// <summary>Writes what is left; returns the digest of every byte written and their count.</summary>
    public (Digest Digest, long Size) Finish()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        Hand();
        Stop();
        _failure?.Throw();
        return (Digest.FromHash(_algorithm, _hash.GetCurrentHash()), _written);
    }

    /// <summary>Nothing is buffered past a <see cref="Write(ReadOnlySpan{byte})"/> but the current buffer, which <see cref="Finish"/> writes.</summary>
    public override void Flush() { }

    private void Stop()
    {
        if (_finished) return;
        _finished = true;
        _ring.Filled(-1);
        _hasher.Join();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Stop();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

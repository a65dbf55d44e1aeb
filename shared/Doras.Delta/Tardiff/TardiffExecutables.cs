using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Model;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Tardiff;

/// <summary>
/// Changed executables inside a tar (a container layer's programs and libraries): the member's delta is made by
/// bsdiff-exe, which follows moved code, as a complete delta of its own between the old and the new member. It works
/// on files, so each member goes to a temporary file beside the work (the server's scratch, the device's old archive).
/// </summary>
internal static class TardiffExecutables
{
    /// <summary>Smaller members are not worth a second delta format's overhead.</summary>
    private const int MinBytes = 4096;

    private static readonly BsdiffExeAlgorithm Algorithm = new();

    /// <summary>bsdiff-exe's delta from the old member to the new one, or null when they are not ELF files it handles (or liblzma is missing).</summary>
    public static byte[]? Delta(ReadOnlySpan<byte> oldBytes, ReadOnlySpan<byte> newBytes)
    {
        if (oldBytes.Length < MinBytes || newBytes.Length < MinBytes || !oldBytes.StartsWith("\u007fELF"u8) || !newBytes.StartsWith("\u007fELF"u8)) return null;
        if (!Algorithm.Profile.AppliesHere) return null;
        var directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "doras-tardiff-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var oldInput = Write(Path.Combine(directory, "old"), oldBytes);
            var newInput = Write(Path.Combine(directory, "new"), newBytes);
            var delta = new MemoryStream();
            Algorithm.EncodeAsync(oldInput, newInput, delta).GetAwaiter().GetResult();
            return delta.ToArray();
        }
        catch (IncompatibleArtifactException) { return null; } // not of one instruction set, or not an ELF file after all
        finally { Directory.Delete(directory, recursive: true); }
    }

    /// <summary>Applies a member's bsdiff-exe delta to old[from, +length), writing the new member to <paramref name="output"/>; returns the bytes written.</summary>
    public static async Task<long> ApplyAsync(SafeFileHandle old, string oldPath, long from, long length, Stream delta, Stream output, long newLength, CancellationToken ct)
    {
        // Beside the old archive (the device's storage, not a RAM-backed /tmp): the member is as large as the program.
        var memberPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(oldPath))!, ".doras-tardiff-member-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var member = new FileStream(memberPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var buffer = new byte[1 << 16];
                for (long done = 0; done < length;)
                {
                    var n = await RandomAccess.ReadAsync(old, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), from + done, ct).ConfigureAwait(false);
                    if (n == 0) throw new CorruptDeltaException("the old archive ended early while applying a tardiff delta");
                    await member.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    done += n;
                }
            }
            Digest digest;
            await using (var member = new FileStream(memberPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                digest = await Digest.ComputeAsync(member, Digest.Sha256, ct).ConfigureAwait(false);
            var counted = new CountingStream(output);
            await Algorithm.ApplyAsync(new DeltaInput(memberPath, digest, length), delta, counted, null, ct).ConfigureAwait(false);
            return counted.Count;
        }
        finally { File.Delete(memberPath); }
    }

    private static DeltaInput Write(string path, ReadOnlySpan<byte> bytes)
    {
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16)) file.Write(bytes);
        return new DeltaInput(path, Digest.Compute(bytes), bytes.Length);
    }

    /// <summary>Passes writes on and counts them.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) { inner.Write(buffer); Count += buffer.Length; }
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) { await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false); Count += buffer.Length; }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

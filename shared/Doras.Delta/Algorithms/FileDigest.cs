using System.Security.Cryptography;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>
/// The content digest of a file, read synchronously in large blocks: a hash over a buffered asynchronous stream
/// reads 4 KiB at a time and hops to the thread pool for each 64 KiB refill, which cost a device more than the
/// hash itself (the platform's SHA-256, SHA-NI or ARMv8 crypto instructions through OpenSSL).
/// </summary>
public static class FileDigest
{
    /// <summary>Large enough that a syscall per block is noise next to hashing it; small next to a device's memory.</summary>
    private const int BlockBytes = 256 << 10;

    public static DeltaInput Input(string path, string algorithm = Digest.Sha256, CancellationToken ct = default)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var (digest, size) = Compute(file, algorithm, ct);
        return new DeltaInput(path, digest, size);
    }

    /// <summary>The digest of the whole file and the number of bytes it holds now (read to its end, not its length at the start).</summary>
    public static (Digest Digest, long Size) Compute(Microsoft.Win32.SafeHandles.SafeFileHandle file, string algorithm = Digest.Sha256, CancellationToken ct = default)
    {
        using var hash = IncrementalHash.CreateHash(algorithm == Digest.Sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);
        var buffer = new byte[BlockBytes];
        long size = 0;
        int n;
        while ((n = RandomAccess.Read(file, buffer, size)) > 0)
        {
            ct.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, n);
            size += n;
        }
        return (Digest.FromHash(algorithm, hash.GetCurrentHash()), size);
    }
}

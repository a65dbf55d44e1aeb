using Doras.Oci;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>A file on disk whose content digest is known (and was verified by whoever says so).</summary>
public sealed record DeltaInput(string Path, Digest Digest, long Size);

/// <summary>What a delta must produce: the target's content digest and size.</summary>
public sealed record DeltaTarget(Digest Digest, long Size);

/// <summary>
/// A way of expressing a new version as a difference from an old one. Encoders and decoders stream: the old
/// version is read from disk (memory-mapped or seeked), never loaded whole into the managed heap.
/// </summary>
public interface IDeltaAlgorithm
{
    /// <summary>The name clients list in <c>accepted_algorithm</c>.</summary>
    string Name { get; }

    /// <summary>The media type of a stored delta layer made by this algorithm.</summary>
    string MediaType { get; }

    /// <summary>What lists, <c>auto</c>, estimates and help need to know of it; a plain algorithm need not say.</summary>
    DeltaAlgorithmProfile Profile => DeltaAlgorithmProfile.Plain;

    Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default);

    /// <summary>
    /// Writes the new version to <paramref name="output"/>. Throws <see cref="CorruptDeltaException"/> when the
    /// delta is corrupt, truncated, or made for another base; the output must then be discarded.
    /// </summary>
    Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default);

    /// <summary>
    /// Writes the new version into a new file at <paramref name="outputPath"/>, flushed to disk. Algorithms that
    /// can decode in place (into a memory map of the output) override this to keep device memory bounded.
    /// The caller still verifies the file against the target's digest.
    /// </summary>
    Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default) =>
        OutputFile.WriteAsync(outputPath, (output, _) => ApplyAsync(oldVersion, delta, output, expected, ct), ct);
}

/// <summary>
/// An algorithm whose apply to a file also hashes the bytes as it writes them, so the caller verifies the output
/// against its target without reading the file back.
/// </summary>
public interface IDigestingApply
{
    /// <summary>
    /// Like <see cref="IDeltaAlgorithm.ApplyToFileAsync"/>; returns the digest (of the target digest's algorithm) and
    /// the count of the bytes written, for the caller to compare with the target.
    /// </summary>
    Task<(Digest Digest, long Size)> ApplyToFileDigestingAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default);
}

/// <summary>How algorithms write the new version to a file.</summary>
internal static class OutputFile
{
    /// <summary>
    /// Like <see cref="WriteAsync"/>, through a <see cref="DigestingWriteStream"/>: returns the digest of what
    /// <paramref name="write"/> wrote and its size, the file flushed to disk.
    /// </summary>
    public static async Task<(Digest Digest, long Size)> WriteDigestingAsync(string outputPath, string algorithm, Func<Stream, string, Task> write, CancellationToken ct)
    {
        var file = File.OpenHandle(outputPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        try
        {
            using (file)
            {
                (Digest, long) written;
                using (var output = new DigestingWriteStream(file, algorithm))
                {
                    await write(output, Path.GetDirectoryName(Path.GetFullPath(outputPath))!).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                    written = output.Finish();
                }
                RandomAccess.FlushToDisk(file);
                return written;
            }
        }
        catch
        {
            try { File.Delete(outputPath); } // ours: CreateNew made it above
            catch (IOException) { } // the apply's own error is the one to report
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Creates the file, lets <paramref name="write"/> fill it, and flushes it to disk. <paramref name="write"/> also
    /// gets the file's directory: temporary files of the apply go there, on the same storage as the output, not
    /// in a temporary file system that may live in RAM. A failed write (a refused delta) leaves no file behind.
    /// </summary>
    public static async Task WriteAsync(string outputPath, Func<Stream, string, Task> write, CancellationToken ct)
    {
        var output = new FileStream(outputPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        try
        {
            await using (output.ConfigureAwait(false))
            {
                await write(output, Path.GetDirectoryName(Path.GetFullPath(outputPath))!).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                output.Flush(flushToDisk: true);
            }
        }
        catch
        {
            try { File.Delete(outputPath); } // ours: CreateNew made it above
            catch (IOException) { } // the apply's own error is the one to report
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}

/// <summary>A delta that cannot be applied: corrupt, truncated, for another base, or over a limit.</summary>
public sealed class CorruptDeltaException(string message, Exception? inner = null) : IOException(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Verification;
}

using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.IO;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.EdgeClient.Updates;

/// <summary>
/// Downloads a blob into the work directory so that an interrupted download, even across a crash or reboot,
/// continues where it stopped: the partial file is re-hashed (local disk is cheap, the link is not) and the
/// rest is fetched with a Range request. The finished file is verified against the blob's digest, flushed and
/// renamed; a partial that turns out wrong is discarded, so it is never retried forever.
/// </summary>
public sealed class ResumableDownload(string workDirectory, IProgress<UpdateProgress>? progress = null)
{
    /// <summary>Bytes that came over the network in the last call (not counting what a partial already had).</summary>
    public long BytesTransferred { get; private set; }

    public string PathOf(Descriptor blob) => Path.Combine(workDirectory, $"download-{blob.Digest.Algorithm}-{blob.Digest.Hex}");

    /// <summary>Bytes of the blob already on disk from an earlier attempt (all of it when finished).</summary>
    public long BytesPresent(Descriptor blob)
    {
        if (File.Exists(PathOf(blob))) return blob.Size;
        var partial = new FileInfo(PathOf(blob) + ".partial");
        return partial.Exists && partial.Length <= blob.Size ? partial.Length : 0;
    }

    public async Task<string> DownloadAsync(IReadOnlyOciRepository repository, Descriptor blob, CancellationToken ct = default)
    {
        BytesTransferred = 0;
        var final = PathOf(blob);
        var partial = final + ".partial";
        if (File.Exists(final)) return final; // only ever renamed into place after verification

        using var hash = blob.Digest.CreateHasher();
        long offset = 0;
        if (File.Exists(partial))
        {
            if (new FileInfo(partial).Length > blob.Size) File.Delete(partial);
            else
            {
                await using var existing = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await existing.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    offset += n;
                }
            }
        }

        try
        {
            await using var file = new FileStream(partial, FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            if (offset < blob.Size)
            {
                // Read to the end of the body: one longer than the blob is refused there (InvalidDataException), not cut.
                await using var body = await repository.FetchFromAsync(blob, offset, ct).ConfigureAwait(false);
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    if (offset + n > blob.Size) throw HttpBody.TooLarge($"blob {blob.Digest}", blob.Size - offset, null); // streams other than ours
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    hash.AppendData(buffer, 0, n);
                    offset += n;
                    BytesTransferred += n;
                    progress?.Report(new UpdateProgress(UpdatePhase.Downloading, offset, blob.Size));
                }
            }
            file.Flush(flushToDisk: true);
        }
        catch (InvalidDataException)
        {
            File.Delete(partial); // the server sent more than the blob: nothing of this answer is trusted
            throw;
        }

        var actual = Digest.FromHash(blob.Digest.Algorithm, hash.GetHashAndReset());
        if (offset != blob.Size)
            throw new DownloadInterruptedException($"download of {blob.Digest} stopped after {offset} of {blob.Size} bytes; it resumes from there next time");
        if (actual != blob.Digest)
        {
            File.Delete(partial); // wrong bytes: start afresh next time rather than failing forever
            throw new DigestMismatchException($"downloaded content of {blob.Digest} has digest {actual}; the partial download was discarded");
        }
        Durable.MoveDurably(partial, final, overwrite: true);
        return final;
    }

    /// <summary>Removes finished and partial downloads (after an update, they are not needed again).</summary>
    public void Clear()
    {
        foreach (var file in Directory.EnumerateFiles(workDirectory, "download-*")) Durable.TryDelete(file);
    }
}

/// <summary>A download ended early; what arrived is kept and the next attempt continues from there.</summary>
public sealed class DownloadInterruptedException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Network;
}

/// <summary>An artifact or delta over the configured size limit.</summary>
public sealed class ArtifactTooLargeException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.TooLarge;
}

/// <summary>Not enough free space for an update: says how much is needed where.</summary>
public sealed class InsufficientStorageException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Storage;
}

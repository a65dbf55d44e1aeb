using Doras.Delta.Artifacts;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.EdgeClient.Updates.Download;

/// <summary>
/// What an update may download, and the downloading: refuses what is over the size limit or would not fit
/// before a byte is fetched, keeps every transfer within the data budget, and resumes interrupted downloads.
/// </summary>
internal sealed class MeteredDownloader(WorkPaths paths, UpdateOptions options, TimeProvider time, IProgress<UpdateProgress>? progress)
{
    private readonly ResumableDownload _download = new(paths.Work, progress);
    private readonly DataBudget? _budget = options.DataBudget is { } limits ? new DataBudget(paths.Budget, limits, time) : null;

    /// <summary>Bytes that came over the network in the last download.</summary>
    public long BytesTransferred => _download.BytesTransferred;

    /// <summary>Refuses artifacts (and deltas) larger than the device accepts, before downloading them: no decompression bombs.</summary>
    public void CheckLimit(ArtifactLayer target, long? deltaSize = null)
    {
        var limit = options.MaxArtifactBytes;
        foreach (var (what, size) in new[] { ("artifact content", target.ContentSize), ("download", target.Layer.Size), ("delta", deltaSize ?? 0) })
            if (size > limit)
                throw new ArtifactTooLargeException($"the {what} of {target.Name} is {size} bytes, over the limit of {limit} bytes (--max-bytes, UpdateOptions.MaxArtifactBytes)");
    }

    /// <summary>Refuses an update that would not fit, before a byte is downloaded, naming what it needs.</summary>
    public void EnsureSpace(long needed) => FreeSpace.Ensure(paths.Work, needed, options.ReserveBytes, "download, staging");

    /// <summary>A resumable download of a blob into the work directory, within the data budget when there is one.</summary>
    public async Task<string> DownloadAsync(IReadOnlyOciRepository source, Descriptor blob, string what, CancellationToken ct)
    {
        if (_budget is null) return await _download.DownloadAsync(source, blob, ct).ConfigureAwait(false);
        var reservation = await _budget.ReserveAsync(blob.Size - _download.BytesPresent(blob), what, ct).ConfigureAwait(false);
        try { return await _download.DownloadAsync(source, blob, ct).ConfigureAwait(false); }
        finally { await _budget.SettleAsync(reservation, _download.BytesTransferred).ConfigureAwait(false); }
    }

    /// <summary>A transfer of unknown size (it returns the bytes it brought), counted against the data budget when there is one.</summary>
    public async Task<long> MeterAsync(string what, Func<Task<long>> transfer, CancellationToken ct)
    {
        if (_budget is null) return await transfer().ConfigureAwait(false);
        var reservation = await _budget.ReserveAsync(0, what, ct).ConfigureAwait(false);
        long bytes = 0;
        try { return bytes = await transfer().ConfigureAwait(false); }
        finally { await _budget.SettleAsync(reservation, bytes).ConfigureAwait(false); }
    }

    /// <summary>Removes finished and partial downloads: after an install (or once nothing needs them) they are never used again.</summary>
    public void Clear() => _download.Clear();
}

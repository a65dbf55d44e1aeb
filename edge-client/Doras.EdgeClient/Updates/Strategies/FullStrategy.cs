using Doras.Delta.Artifacts;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci.Content;

namespace Doras.EdgeClient.Updates.Strategies;

/// <summary>The full download: the artifact's layer, unpacked into a staging file against its content digest, installed.</summary>
internal static class FullStrategy
{
    /// <param name="previousIntact">The installed version is exactly what its state says, so it may be kept for a rollback.</param>
    public static async Task<UpdateResult> RunAsync(UpdateRun run, InstallState? previous, bool previousIntact, string reason, CancellationToken ct)
    {
        var (reference, options) = (run.Reference, run.Options);
        var (manifest, target) = await run.FetchArtifactAsync(run.TargetIdentifier, ct).ConfigureAwait(false);
        OutputGuard.EnsureMayInstall(run.Paths.Output, target, previous, options);
        run.Downloader.CheckLimit(target);
        run.Downloader.EnsureSpace(target.Layer.Size + target.ContentSize + (target.Kind == ArtifactKind.Directory ? target.ContentSize : 0));
        var layerFile = await run.Downloader.DownloadAsync(run.Repository, target.Layer, $"the full {target.Name}", ct).ConfigureAwait(false);
        var staging = run.Paths.NewStaging();
        await using (var stored = new FileStream(layerFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            try { await target.WriteContentAsync(stored, staging, ct).ConfigureAwait(false); }
            catch (DigestMismatchException) { run.Downloader.Clear(); throw; } // the layer is fine but its content lies: nothing to resume
        }
        var installed = await run.Installation.InstallAsync(staging, target, manifest, reference, previous, options.KeepPrevious && previousIntact, options.ReplaceExisting, run.NewestAccepted(previous), ct).ConfigureAwait(false);
        run.Downloader.Clear();
        return new UpdateResult(UpdateMode.Full, installed, manifest.Digest.ToString(), run.Downloader.BytesTransferred, target.Layer.Size, target.ContentSize, reason);
    }
}

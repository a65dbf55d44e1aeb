using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci.Model;

namespace Doras.EdgeClient.Updates.Strategies;

/// <summary>
/// The update from a version the server knows: ask for the delta from it, download and apply it into a staging
/// file, verify the result against the target and install it (or find the device up to date).
/// </summary>
internal static class DeltaStrategy
{
    public static async Task<UpdateResult> RunAsync(UpdateRun run, InstallState state, CancellationToken ct)
    {
        var (reference, options) = (run.Reference, run.Options);
        var from = new Reference(reference.Registry, reference.Repository, null, Digest.Parse(state.ManifestDigest));
        var to = await run.DeltaTargetAsync(ct).ConfigureAwait(false);
        run.Report(UpdatePhase.WaitingForDelta, null);
        var response = await run.Client.WaitForDeltaAsync(new DeltaRequest(from, to, options.AcceptedAlgorithms, run.Authorization), run.Deadline.DeltaWait, ct).ConfigureAwait(false);
        var toDigest = Reference.Parse(response.ToImage).Digest ?? throw new InvalidDataException($"to_image '{response.ToImage}' has no digest");
        if (run.Verified is { } verified && toDigest != verified.Manifest.Digest)
            throw new InvalidDataException($"the server answered with a delta to {toDigest}, not to the signed version {verified.Manifest.Digest} it was asked for");
        var (toManifest, target) = await run.FetchArtifactAsync(toDigest.ToString(), ct).ConfigureAwait(false);

        if (response.Status == Api.DeltaStatus.UpToDate)
        {
            if (target.ContentDigest.ToString() != state.ContentDigest)
                throw new IncompatibleArtifactException($"the server says {response.ToImage} is what is installed, but its content {target.ContentDigest} differs from the installed {state.ContentDigest}");
            if (state.ManifestDigest != toManifest.Digest.ToString() || state.NewestAccepted != run.NewestAccepted(state))
                await (state with { ManifestDigest = toManifest.Digest.ToString(), Reference = reference.ToString(), UpdatedAt = DateTimeOffset.UtcNow, NewestAccepted = run.NewestAccepted(state) })
                    .SaveAsync(run.Paths.State, ct).ConfigureAwait(false);
            return new UpdateResult(UpdateMode.UpToDate, run.Paths.Installed(state), toManifest.Digest.ToString(), 0, target.Layer.Size, target.ContentSize, null);
        }
        run.Downloader.CheckLimit(target);
        OutputGuard.EnsureMayInstall(run.Paths.Output, target, state, options);
        if (target.Kind.ToString() != state.Kind)
            throw new IncompatibleArtifactException($"the installed {state.Kind.ToLowerInvariant()} cannot be updated by delta to a {target.Kind.ToString().ToLowerInvariant()}");

        var (deltaSource, deltaLayer) = await run.Client.ResolveDeltaLayerAsync(response, run.Repository, ct).ConfigureAwait(false);
        run.Downloader.CheckLimit(target, deltaLayer.Size);
        var algorithm = run.Algorithms.FindByMediaType(deltaLayer.MediaType)
            ?? throw new IncompatibleArtifactException($"the delta's media type '{deltaLayer.MediaType}' is not one this client can apply");
        run.Downloader.EnsureSpace(deltaLayer.Size + target.ContentSize + (target.Kind == ArtifactKind.Directory ? target.ContentSize : 0));
        var deltaFile = await run.Downloader.DownloadAsync(deltaSource, deltaLayer, $"the delta to {target.Name}", ct).ConfigureAwait(false);
        run.Report(UpdatePhase.Applying, deltaLayer.MediaType);
        var baseInput = new DeltaInput(run.Paths.BaseContent(state), Digest.Parse(state.ContentDigest), state.ContentSize);
        var staging = run.Paths.NewStaging();
        await using (var delta = new FileStream(deltaFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            try { await algorithm.ApplyToFileAsync(baseInput, delta, staging, target.Target, ct).ConfigureAwait(false); }
            catch (CorruptDeltaException) { run.Downloader.Clear(); throw; } // verified yet unusable: do not keep it
        }
        await ContentCheck.StagedAsync(staging, target, "the delta", ct).ConfigureAwait(false);
        var installed = await run.Installation.InstallAsync(staging, target, toManifest, reference, state, options.KeepPrevious, options.ReplaceExisting, run.NewestAccepted(state), ct).ConfigureAwait(false);
        run.Downloader.Clear();
        return new UpdateResult(UpdateMode.Delta, installed, toManifest.Digest.ToString(), run.Downloader.BytesTransferred, target.Layer.Size, target.ContentSize, null);
    }
}

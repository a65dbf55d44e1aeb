using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci.IO;
using Doras.Oci.Model;
using Microsoft.Extensions.Logging;

namespace Doras.EdgeClient.Updates.Strategies;

/// <summary>
/// When the installed file is not a version the server knows (never recorded, or changed locally), it can
/// still be a good base: send its Octodiff signature and apply the delta the server makes from it.
/// </summary>
internal static class SignatureStrategy
{
    /// <summary>
    /// Null when there is no such file or the server cannot or will not (then the caller downloads the full artifact);
    /// <paramref name="why"/> then says why a signature delta did not happen, for the full download's reason.
    /// </summary>
    public static async Task<UpdateResult?> TryRunAsync(UpdateRun run, InstallState? state, string reason, Action<string> why, CancellationToken ct)
    {
        var (reference, options, paths) = (run.Reference, run.Options, run.Paths);
        var (manifest, target) = await run.FetchArtifactAsync(run.TargetIdentifier, ct).ConfigureAwait(false);
        var basePath = Path.Combine(paths.Output, target.Name);
        if (target.Kind != ArtifactKind.File || !File.Exists(basePath)) return null;
        OutputGuard.EnsureMayInstall(paths.Output, target, state, options);
        run.Downloader.CheckLimit(target);
        run.Downloader.EnsureSpace(2 * target.ContentSize);
        var deltaPath = Path.Combine(paths.Work, "download-signature-delta");
        var staging = paths.NewStaging();
        try
        {
            run.Report(UpdatePhase.WaitingForDelta, "signature");
            var signature = new MemoryStream();
            await using (var baseFile = new FileStream(basePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
                await Delta.Octodiff.OctodiffSignature.WriteAsync(baseFile, signature, ct: ct).ConfigureAwait(false);
            signature.Position = 0;
            var to = new Reference(reference.Registry, reference.Repository, null, manifest.Digest);
            var bytes = await run.Downloader.MeterAsync($"the signature delta to {target.Name}", async () =>
            {
                await using var deltaFile = new FileStream(deltaPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                return (await run.Client.ReadDeltaFromSignatureAsync(to, signature, deltaFile,
                    DeltaClient.SignatureDeltaBound(target.ContentSize, options.MaxArtifactBytes), run.Authorization, ct).ConfigureAwait(false)).Bytes;
            }, ct).ConfigureAwait(false);
            run.Downloader.CheckLimit(target, bytes);

            run.Report(UpdatePhase.Applying, Api.DeltaApi.OctodiffMediaType);
            await using (var delta = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var output = new FileStream(staging, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await Delta.Octodiff.OctodiffDelta.ApplyAsync(basePath, delta, output, target.ContentSize, ct).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }
            await ContentCheck.StagedAsync(staging, target, "the signature delta", ct).ConfigureAwait(false);
            var installed = await run.Installation.InstallAsync(staging, target, manifest, reference, state, keepPrevious: false, options.ReplaceExisting, run.NewestAccepted(state), ct).ConfigureAwait(false);
            run.Log.LogInformation("Updated {Reference} from a signature of the installed file ({Reason}): {Bytes} bytes", reference, reason, bytes);
            return new UpdateResult(UpdateMode.Delta, installed, manifest.Digest.ToString(), bytes, target.Layer.Size, target.ContentSize,
                $"{reason}; updated by a delta from a signature of the installed file");
        }
        catch (Exception e) when (e is DeltaServerException or CorruptDeltaException or InvalidDataException or HttpRequestException { StatusCode: not null })
        {
            run.Log.LogInformation("No delta from a signature of {File} ({Error}); downloading in full", basePath, e.Message);
            why($"no delta from a signature of {basePath} ({e.Message})");
            return null;
        }
        finally
        {
            Durable.TryDelete(deltaPath);
            Durable.TryDelete(staging);
        }
    }
}

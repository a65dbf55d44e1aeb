using System.Net;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Content;
using Doras.Oci.IO;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Doras.EdgeClient.Updates;

/// <summary>
/// Keeps a file or directory at a given artifact version. The first run downloads the full artifact; later
/// runs ask the server for a delta from the installed version, apply it into a staging file, verify the
/// result against the target's digest, swap it into place atomically, and only then record the new state.
/// If the installation no longer matches the recorded state, or a delta cannot be had, it falls back to a
/// full download. The installed version is never touched until its replacement is complete and verified.
/// </summary>
/// <param name="registry">For artifacts named with a registry host: read them from that registry directly.</param>
public sealed class Updater(DeltaClient client, RegistryClient? registry = null, DeltaAlgorithms? algorithms = null, ILogger<Updater>? logger = null)
{
    private readonly DeltaAlgorithms _algorithms = algorithms ?? DeltaAlgorithms.Default();
    private readonly ILogger _log = logger ?? NullLogger<Updater>.Instance;

    /// <summary>Told each phase of an update and the bytes of each download as they arrive.</summary>
    public IProgress<UpdateProgress>? Progress { get; init; }

    /// <summary>The clock of the data budget.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    private void Report(UpdatePhase phase, string? detail = null) => Progress?.Report(new UpdateProgress(phase, Detail: detail));

    public async Task<UpdateResult> UpdateAsync(UpdateOptions options, CancellationToken ct = default)
    {
        var reference = Reference.Parse(options.Reference);
        if (!reference.HasIdentifier) reference = reference.WithTag("latest");
        if (reference.Registry is not null && reference.Registry != registry?.Registry)
            throw new ArgumentException($"'{reference}' names the registry {reference.Registry}, but no client for that registry was given");

        var paths = new WorkPaths(options.ResolvedWorkDirectory, Path.GetFullPath(options.Output));
        Directory.CreateDirectory(paths.Work);
        using var _ = await FileLock.AcquireAsync(paths.Lock, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        using var stallTimeout = HttpBody.UseStallTimeout(options.StallTimeout); // every body this update reads
        paths.RemoveLeftovers();
        try
        {
            await RecoverAsync(paths, ct).ConfigureAwait(false);
            // Transient failures (server errors, dropped links) are retried with backoff; downloads resume each time.
            var retries = client.Backoff with { MaxAttempts = Math.Max(1, options.Attempts) };
            var pipeline = retries.CreatePipeline<UpdateResult>(_ => false, _ => null, IsTransient,
                (attempt, delay) => _log.LogWarning("Update attempt {Attempt} failed transiently; retrying in {Delay}", attempt, delay));
            var result = await pipeline.ExecuteAsync(async token => await UpdateLockedAsync(reference, options, paths, token).ConfigureAwait(false), ct).ConfigureAwait(false);
            Report(UpdatePhase.Done, result.Mode.ToString());
            return result;
        }
        finally
        {
            paths.RemoveLeftovers(); // a failed attempt's staging is never needed again
        }
    }

    private async Task<UpdateResult> UpdateLockedAsync(Reference reference, UpdateOptions options, WorkPaths paths, CancellationToken ct)
    {
        Report(UpdatePhase.Checking, reference.ToString());
        var (repository, authorization) = await SourceAsync(reference, ct).ConfigureAwait(false);
        var state = InstallState.Load(paths.State);
        string fallback;
        var mismatch = state is null ? null : await CheckInstalledAsync(state, paths, ct).ConfigureAwait(false);
        if (state is null)
            fallback = "nothing is installed yet";
        else if (mismatch is not null)
            fallback = mismatch;
        else
        {
            try
            {
                return await UpdateByDeltaAsync(state, reference, repository, authorization, options, paths, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (IsReasonForFullDownload(e))
            {
                fallback = $"no usable delta ({e.Message})";
            }
        }
        // Only a base the server does not know needs its signature; a known one already had its chance above.
        var unknownBase = state is null || mismatch is not null;
        if (options.UseSignatures && unknownBase && await TryUpdateFromSignatureAsync(state, reference, repository, authorization, options, paths, fallback, ct).ConfigureAwait(false) is { } bySignature)
            return bySignature;
        _log.LogInformation("Full download of {Reference}: {Reason}", reference, fallback);
        return await UpdateFullAsync(state, state is not null && mismatch is null, reference, repository, options, paths, fallback, ct).ConfigureAwait(false);
    }

    /// <summary>Failures worth another attempt: the server or the link, not the content or the device.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        HttpRequestException h => h.StatusCode is null or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
            or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout,
        DownloadInterruptedException or HttpIOException or ResponseStalledException => true,
        DeltaServerException d => d.IsTransient,
        TaskCanceledException t => t.InnerException is TimeoutException, // HttpClient's timeout, not the caller
        _ => false,
    };

    /// <summary>Failures of the delta path after which a full download is the way forward (anything else is reported).</summary>
    private static bool IsReasonForFullDownload(Exception e) => e
        is CorruptDeltaException or DigestMismatchException or IncompatibleArtifactException
        or TimeoutException // the delta never became ready within the backoff's attempts
        or DeltaServerException { Status: HttpStatusCode.NotAcceptable or HttpStatusCode.NotFound }
        or DeltaServerException { Type: Api.ProblemTypes.DeltaFailed };

    /// <summary>
    /// Where to download from: the registry the reference names, when it answers (with the authorization the
    /// server should use on our behalf), or else the Doras server's /v2 API.
    /// </summary>
    private async Task<(IReadOnlyOciRepository Repository, System.Net.Http.Headers.AuthenticationHeaderValue? Authorization)> SourceAsync(Reference reference, CancellationToken ct)
    {
        if (reference.Registry is null || registry is null) return (client.Repository(reference.Repository), null);
        try
        {
            var authorization = await registry.ReadAuthorizationAsync(reference.Repository, ct).ConfigureAwait(false);
            return (registry.Repository(reference.Repository), authorization);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            _log.LogWarning("Registry {Registry} is unreachable ({Error}); downloading through the Doras server", reference.Registry, e.Message);
            return (client.Repository(reference.Repository), null);
        }
    }

    private async Task<UpdateResult> UpdateByDeltaAsync(InstallState state, Reference reference, IReadOnlyOciRepository repository,
        System.Net.Http.Headers.AuthenticationHeaderValue? authorization, UpdateOptions options, WorkPaths paths, CancellationToken ct)
    {
        var from = new Reference(reference.Registry, reference.Repository, null, Digest.Parse(state.ManifestDigest));
        Report(UpdatePhase.WaitingForDelta);
        var response = await client.ReadDelta(new DeltaRequest(from, reference, options.AcceptedAlgorithms, authorization), ct).ConfigureAwait(false);
        var toDigest = Reference.Parse(response.ToImage).Digest ?? throw new InvalidDataException($"to_image '{response.ToImage}' has no digest");
        var (toManifest, target) = await FetchArtifactAsync(repository, toDigest.ToString(), ct).ConfigureAwait(false);

        if (response.Status == Api.DeltaStatus.UpToDate)
        {
            if (target.ContentDigest.ToString() != state.ContentDigest)
                throw new IncompatibleArtifactException($"the server says {response.ToImage} is what is installed, but its content {target.ContentDigest} differs from the installed {state.ContentDigest}");
            if (state.ManifestDigest != toManifest.Digest.ToString())
                await (state with { ManifestDigest = toManifest.Digest.ToString(), Reference = reference.ToString(), UpdatedAt = DateTimeOffset.UtcNow })
                    .SaveAsync(paths.State, ct).ConfigureAwait(false);
            return new UpdateResult(UpdateMode.UpToDate, paths.Installed(state), toManifest.Digest.ToString(), 0, target.Layer.Size, target.ContentSize, null);
        }
        CheckLimit(options, deltaLayerSizeHint: null, target);
        OutputGuard.EnsureMayInstall(paths.Output, target, state, options);
        if (target.Kind.ToString() != state.Kind)
            throw new IncompatibleArtifactException($"the installed {state.Kind.ToLowerInvariant()} cannot be updated by delta to a {target.Kind.ToString().ToLowerInvariant()}");

        var (deltaSource, deltaLayer) = await client.ResolveDeltaLayerAsync(response, repository, ct).ConfigureAwait(false);
        CheckLimit(options, deltaLayer.Size, target);
        var algorithm = _algorithms.FindByMediaType(deltaLayer.MediaType)
            ?? throw new IncompatibleArtifactException($"the delta's media type '{deltaLayer.MediaType}' is not one this client can apply");
        EnsureSpace(paths, options, deltaLayer.Size + target.ContentSize + (target.Kind == ArtifactKind.Directory ? target.ContentSize : 0));
        var download = new ResumableDownload(paths.Work, Progress);
        var deltaFile = await DownloadAsync(download, deltaSource, deltaLayer, $"the delta to {target.Name}", options, paths, ct).ConfigureAwait(false);
        Report(UpdatePhase.Applying, deltaLayer.MediaType);
        var baseInput = new DeltaInput(paths.BaseContent(state), Digest.Parse(state.ContentDigest), state.ContentSize);
        var staging = paths.NewStaging();
        await using (var delta = new FileStream(deltaFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            try { await algorithm.ApplyToFileAsync(baseInput, delta, staging, target.Target, ct).ConfigureAwait(false); }
            catch (CorruptDeltaException) { download.Clear(); throw; } // verified yet unusable: do not keep it
        }
        await VerifyStagedAsync(staging, target, "the delta", ct).ConfigureAwait(false);
        var installed = await InstallAsync(staging, target, toManifest, reference, state, options.KeepPrevious, options.ReplaceExisting, paths, ct).ConfigureAwait(false);
        download.Clear();
        return new UpdateResult(UpdateMode.Delta, installed, toManifest.Digest.ToString(), download.BytesTransferred, target.Layer.Size, target.ContentSize, null);
    }

    /// <summary>
    /// When the installed file is not a version the server knows (never recorded, or changed locally), it can
    /// still be a good base: send its Octodiff signature and apply the delta the server makes from it. Null when
    /// there is no such file or the server cannot or will not (then the caller downloads the full artifact).
    /// </summary>
    private async Task<UpdateResult?> TryUpdateFromSignatureAsync(InstallState? state, Reference reference, IReadOnlyOciRepository repository,
        System.Net.Http.Headers.AuthenticationHeaderValue? authorization, UpdateOptions options, WorkPaths paths, string reason, CancellationToken ct)
    {
        var (manifest, target) = await FetchArtifactAsync(repository, reference.Identifier, ct).ConfigureAwait(false);
        var basePath = Path.Combine(paths.Output, target.Name);
        if (target.Kind != ArtifactKind.File || !File.Exists(basePath)) return null;
        OutputGuard.EnsureMayInstall(paths.Output, target, state, options);
        CheckLimit(options, null, target);
        EnsureSpace(paths, options, 2 * target.ContentSize);
        var deltaPath = Path.Combine(paths.Work, "download-signature-delta");
        var staging = paths.NewStaging();
        try
        {
            Report(UpdatePhase.WaitingForDelta, "signature");
            var signature = new MemoryStream();
            await using (var baseFile = new FileStream(basePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
                await Delta.Octodiff.OctodiffSignature.WriteAsync(baseFile, signature, ct: ct).ConfigureAwait(false);
            signature.Position = 0;
            var to = new Reference(reference.Registry, reference.Repository, null, manifest.Digest);
            DataBudget? budget = options.DataBudget is { } limits ? new DataBudget(paths.Budget, limits, Time) : null;
            var reservation = budget is null ? null : await budget.ReserveAsync(0, $"the signature delta to {target.Name}", ct).ConfigureAwait(false);
            long bytes = 0;
            try
            {
                await using var deltaFile = new FileStream(deltaPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                (_, bytes) = await client.ReadDeltaFromSignatureAsync(to, signature, deltaFile,
                    DeltaClient.SignatureDeltaBound(target.ContentSize, options.MaxArtifactBytes), authorization, ct).ConfigureAwait(false);
            }
            finally
            {
                if (budget is not null) await budget.SettleAsync(reservation!, bytes).ConfigureAwait(false);
            }
            CheckLimit(options, bytes, target);

            Report(UpdatePhase.Applying, Api.DeltaApi.OctodiffMediaType);
            await using (var delta = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var output = new FileStream(staging, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await Delta.Octodiff.OctodiffDelta.ApplyAsync(basePath, delta, output, target.ContentSize, ct).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }
            await VerifyStagedAsync(staging, target, "the signature delta", ct).ConfigureAwait(false);
            var installed = await InstallAsync(staging, target, manifest, reference, state, keepPrevious: false, options.ReplaceExisting, paths, ct).ConfigureAwait(false);
            _log.LogInformation("Updated {Reference} from a signature of the installed file ({Reason}): {Bytes} bytes", reference, reason, bytes);
            return new UpdateResult(UpdateMode.Delta, installed, manifest.Digest.ToString(), bytes, target.Layer.Size, target.ContentSize,
                $"{reason}; updated by a delta from a signature of the installed file");
        }
        catch (Exception e) when (e is DeltaServerException or CorruptDeltaException or InvalidDataException or HttpRequestException { StatusCode: not null })
        {
            _log.LogInformation("No delta from a signature of {File} ({Error}); downloading in full", basePath, e.Message);
            return null;
        }
        finally
        {
            Durable.TryDelete(deltaPath);
            Durable.TryDelete(staging);
        }
    }

    private async Task<UpdateResult> UpdateFullAsync(InstallState? previous, bool previousIntact, Reference reference, IReadOnlyOciRepository repository, UpdateOptions options, WorkPaths paths, string reason, CancellationToken ct)
    {
        var (manifest, target) = await FetchArtifactAsync(repository, reference.Identifier, ct).ConfigureAwait(false);
        OutputGuard.EnsureMayInstall(paths.Output, target, previous, options);
        CheckLimit(options, null, target);
        EnsureSpace(paths, options, target.Layer.Size + target.ContentSize + (target.Kind == ArtifactKind.Directory ? target.ContentSize : 0));
        var download = new ResumableDownload(paths.Work, Progress);
        var layerFile = await DownloadAsync(download, repository, target.Layer, $"the full {target.Name}", options, paths, ct).ConfigureAwait(false);
        var staging = paths.NewStaging();
        await using (var stored = new FileStream(layerFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            try { await target.WriteContentAsync(stored, staging, ct).ConfigureAwait(false); }
            catch (DigestMismatchException) { download.Clear(); throw; } // the layer is fine but its content lies: nothing to resume
        }
        var installed = await InstallAsync(staging, target, manifest, reference, previous, options.KeepPrevious && previousIntact, options.ReplaceExisting, paths, ct).ConfigureAwait(false);
        download.Clear();
        return new UpdateResult(UpdateMode.Full, installed, manifest.Digest.ToString(), download.BytesTransferred, target.Layer.Size, target.ContentSize, reason);
    }

    /// <summary>A resumable download, within the data budget when there is one.</summary>
    private async Task<string> DownloadAsync(ResumableDownload download, IReadOnlyOciRepository source, Descriptor blob, string what, UpdateOptions options, WorkPaths paths, CancellationToken ct)
    {
        if (options.DataBudget is not { } limits) return await download.DownloadAsync(source, blob, ct).ConfigureAwait(false);
        var budget = new DataBudget(paths.Budget, limits, Time);
        var reservation = await budget.ReserveAsync(blob.Size - download.BytesPresent(blob), what, ct).ConfigureAwait(false);
        try { return await download.DownloadAsync(source, blob, ct).ConfigureAwait(false); }
        finally { await budget.SettleAsync(reservation, download.BytesTransferred).ConfigureAwait(false); }
    }

    private static async Task<(Descriptor Manifest, ArtifactLayer Layer)> FetchArtifactAsync(IReadOnlyOciRepository repository, string identifier, CancellationToken ct)
    {
        var descriptor = await repository.ResolveAsync(identifier, ct).ConfigureAwait(false);
        var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        return (descriptor, ArtifactLayer.From(manifest, $"{repository.Name}@{descriptor.Digest}"));
    }

    /// <summary>Swaps verified staged content into place, then records the new state. Returns the installed path.</summary>
    private async Task<string> InstallAsync(string staging, ArtifactLayer target, Descriptor manifest, Reference reference, InstallState? previous, bool keepPrevious, bool replaceExisting, WorkPaths paths, CancellationToken ct)
    {
        if (replaceExisting) OutputGuard.ClearInTheWay(paths.Output, target);
        // A kept version is only ever the one this install replaces: an older one goes now.
        paths.DropPrevious();
        keepPrevious &= previous is not null;
        string installed;
        string? tree = null, treeDigest = null;
        if (target.Kind == ArtifactKind.File)
        {
            Directory.CreateDirectory(paths.Output);
            installed = Path.Combine(paths.Output, target.Name);
            if (!OperatingSystem.IsWindows() && target.Layer.Annotation(Annotations.FileMode) is { } mode)
                File.SetUnixFileMode(staging, (UnixFileMode)(Convert.ToInt32(mode, 8) & 0x1FF)); // permission bits only
        }
        else
        {
            installed = paths.Output;
            tree = paths.NewTree();
            await using (var tar = new FileStream(staging, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await TarPacking.ExtractAsync(tar, tree, ct).ConfigureAwait(false);
            treeDigest = (await TreeDigest.ComputeAsync(tree, ct).ConfigureAwait(false)).ToString();
            // The tar is the base the next delta applies to: in place before the swap, so a finished swap is complete.
            Durable.MoveDurably(staging, paths.BaseCache(target.ContentDigest.ToString()), overwrite: true);
        }
        var next = new InstallState
        {
            Reference = reference.ToString(),
            ManifestDigest = manifest.Digest.ToString(),
            Kind = target.Kind.ToString(),
            Name = target.Name,
            ContentDigest = target.ContentDigest.ToString(),
            ContentSize = target.ContentSize,
            TreeDigest = treeDigest,
            UpdatedAt = DateTimeOffset.UtcNow,
        };

        Report(UpdatePhase.Installing, installed);
        if (keepPrevious && tree is null)
        {
            Directory.CreateDirectory(paths.Previous);
            Durable.LinkOrCopy(paths.Installed(previous!), paths.Kept(previous!));
        }
        // Journal first: if we die after the swap but before the state is saved, the next start finishes the job.
        await next.SaveAsync(paths.Journal, ct).ConfigureAwait(false);
        if (tree is null) Durable.MoveDurably(staging, installed, overwrite: true); // atomic: old or new, never a mix
        else SwapDirectory(tree, paths, keepOldAt: keepPrevious ? paths.Previous : null);
        await next.SaveAsync(paths.State, ct).ConfigureAwait(false);
        File.Delete(paths.Journal);
        if (keepPrevious) await previous!.SaveAsync(paths.PreviousState, ct).ConfigureAwait(false);

        if (previous is { Kind: nameof(ArtifactKind.File) } && previous.Name != target.Name && target.Kind == ArtifactKind.File)
            Durable.TryDelete(Path.Combine(paths.Output, previous.Name));
        paths.RemoveStaleBases(next);
        _log.LogInformation("Installed {Reference} ({Manifest}) at {Path}", reference, manifest.Digest, installed);
        return installed;
    }

    /// <summary>
    /// After a crash during an install: if what the journal was installing is what is installed, record it
    /// (finish); otherwise the old version is still in place (roll back). Either way the journal goes.
    /// </summary>
    private async Task RecoverAsync(WorkPaths paths, CancellationToken ct)
    {
        if (!File.Exists(paths.Journal)) return;
        var pending = InstallState.Load(paths.Journal);
        if (pending is not null && await CheckInstalledAsync(pending, paths, ct).ConfigureAwait(false) is null)
        {
            await pending.SaveAsync(paths.State, ct).ConfigureAwait(false);
            if (InstallState.Load(paths.PreviousState)?.ManifestDigest == pending.ManifestDigest) paths.DropPrevious(); // an interrupted rollback
            _log.LogInformation("Finished the interrupted install of {Manifest}", pending.ManifestDigest);
        }
        else
        {
            _log.LogInformation("Rolled back an interrupted install: the previous version is still in place");
        }
        File.Delete(paths.Journal);
        if (InstallState.Load(paths.State) is { } state) paths.RemoveStaleBases(state);
    }

    /// <summary>
    /// Puts back the version the last update replaced (kept with <see cref="UpdateOptions.KeepPrevious"/>),
    /// verified first and swapped atomically under the same journal as an update; the version rolled back
    /// from is kept in its place, so a second rollback rolls forward again.
    /// </summary>
    public async Task<UpdateResult> RollbackAsync(UpdateOptions options, CancellationToken ct = default)
    {
        var paths = new WorkPaths(options.ResolvedWorkDirectory, Path.GetFullPath(options.Output));
        Directory.CreateDirectory(paths.Work);
        using var _ = await FileLock.AcquireAsync(paths.Lock, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        await RecoverAsync(paths, ct).ConfigureAwait(false);
        var current = InstallState.Load(paths.State) ?? throw new InvalidOperationException($"nothing is installed at {paths.Output}, so there is nothing to roll back");
        var previous = InstallState.Load(paths.PreviousState)
            ?? throw new InvalidOperationException($"no previous version of {paths.Output} is kept (updates keep one with KeepPrevious, --keep-previous)");
        if (await CheckInstalledAsync(current, paths, ct).ConfigureAwait(false) is { } changed)
            throw new InvalidOperationException($"cannot roll back: {changed}");
        if (await CheckKeptAsync(previous, paths, ct).ConfigureAwait(false) is { } damaged)
        {
            paths.DropPrevious();
            throw new InvalidDataException($"the kept previous version {previous.ManifestDigest} is damaged ({damaged}); it was removed");
        }

        Report(UpdatePhase.Installing, paths.Installed(previous));
        await previous.SaveAsync(paths.Journal, ct).ConfigureAwait(false);
        // Exchange keeps both versions: the current one becomes the kept one. Without it, a rename over the current.
        var sameName = paths.Installed(previous) == paths.Installed(current);
        var exchanged = sameName && Durable.TryExchange(paths.Kept(previous), paths.Installed(current));
        if (!exchanged)
        {
            if (current.Kind == nameof(ArtifactKind.File)) Durable.MoveDurably(paths.Kept(previous), paths.Installed(previous), overwrite: true);
            else SwapDirectory(paths.Previous, paths, keepOldAt: null);
            if (!sameName) Durable.TryDelete(paths.Installed(current));
        }
        var restored = previous with { UpdatedAt = DateTimeOffset.UtcNow };
        await restored.SaveAsync(paths.State, ct).ConfigureAwait(false);
        File.Delete(paths.Journal);
        if (exchanged) await current.SaveAsync(paths.PreviousState, ct).ConfigureAwait(false);
        else paths.DropPrevious();
        paths.RemoveStaleBases(restored);
        _log.LogInformation("Rolled back {Output} from {From} to {To}", paths.Output, current.ManifestDigest, previous.ManifestDigest);
        Report(UpdatePhase.Done, UpdateMode.RolledBack.ToString());
        return new UpdateResult(UpdateMode.RolledBack, paths.Installed(previous), previous.ManifestDigest, 0, 0, previous.ContentSize, null);
    }

    /// <summary>Null when the kept previous version is exactly what its state records; otherwise why not.</summary>
    private static Task<string?> CheckKeptAsync(InstallState previous, WorkPaths paths, CancellationToken ct) =>
        CheckInstalledAsync(previous, paths with { Output = paths.Previous }, ct);

    /// <summary>
    /// Puts a new tree at the output without an instant where no version is installed (Linux renameat2
    /// exchange). The old tree is deleted, or moved to <paramref name="keepOldAt"/>.
    /// </summary>
    private void SwapDirectory(string tree, WorkPaths paths, string? keepOldAt)
    {
        void Retire(string old)
        {
            if (keepOldAt is null) Directory.Delete(old, recursive: true);
            else Directory.Move(old, keepOldAt);
        }

        if (!Directory.Exists(paths.Output))
        {
            Directory.Move(tree, paths.Output);
            Durable.FsyncDirectory(Path.GetDirectoryName(paths.Output)!);
            return;
        }
        if (Durable.TryExchange(tree, paths.Output))
        {
            Retire(tree); // the old version, now at the staging path
            return;
        }
        // No atomic exchange here: move the old one aside first, so it can be restored if the second move fails.
        _log.LogWarning("Atomic directory exchange is not supported here; swapping {Output} with two renames", paths.Output);
        var old = paths.NewTree();
        Directory.Move(paths.Output, old);
        try { Directory.Move(tree, paths.Output); }
        catch { Directory.Move(old, paths.Output); throw; }
        Retire(old);
    }

    /// <summary>Refuses artifacts (and deltas) larger than the device accepts, before downloading them: no decompression bombs.</summary>
    private static void CheckLimit(UpdateOptions options, long? deltaLayerSizeHint, ArtifactLayer target)
    {
        var limit = options.MaxArtifactBytes;
        foreach (var (what, size) in new[] { ("artifact content", target.ContentSize), ("download", target.Layer.Size), ("delta", deltaLayerSizeHint ?? 0) })
            if (size > limit)
                throw new ArtifactTooLargeException($"the {what} of {target.Name} is {size} bytes, over the limit of {limit} bytes (MaxArtifactBytes)");
    }

    /// <summary>Refuses an update that would not fit, before a byte is downloaded, naming what it needs.</summary>
    private static void EnsureSpace(WorkPaths paths, UpdateOptions options, long needed)
    {
        var available = new DriveInfo(paths.Work).AvailableFreeSpace;
        if (available - needed < options.ReserveBytes)
            throw new InsufficientStorageException(
                $"the update needs {needed} bytes in {paths.Work} (download, staging{(options.ReserveBytes > 0 ? $", and {options.ReserveBytes} bytes kept free" : "")}), but only {available} bytes are free");
    }

    /// <summary>Null when the installation is exactly what the state records; otherwise why not.</summary>
    private static async Task<string?> CheckInstalledAsync(InstallState state, WorkPaths paths, CancellationToken ct)
    {
        if (state.Kind == nameof(ArtifactKind.File))
        {
            var file = new FileInfo(Path.Combine(paths.Output, state.Name));
            if (!file.Exists) return $"the installed file {file.FullName} is missing";
            if (file.Length != state.ContentSize || (await DigestOfAsync(file.FullName, ct).ConfigureAwait(false)).Digest != state.ContentDigest)
                return $"the installed file {file.FullName} was changed locally";
            return null;
        }
        if (!Directory.Exists(paths.Output)) return $"the installed directory {paths.Output} is missing";
        if ((await TreeDigest.ComputeAsync(paths.Output, ct).ConfigureAwait(false)).ToString() != state.TreeDigest)
            return $"the installed directory {paths.Output} was changed locally";
        var baseCache = paths.BaseCache(state.ContentDigest);
        if (!File.Exists(baseCache) || (await DigestOfAsync(baseCache, ct).ConfigureAwait(false)).Digest != state.ContentDigest)
            return "the cached base of the installed directory is missing or damaged";
        return null;
    }

    /// <summary>Reads the staged result back from disk and refuses it unless it is exactly the target.</summary>
    private static async Task VerifyStagedAsync(string staging, ArtifactLayer target, string what, CancellationToken ct)
    {
        var (produced, size) = await DigestOfAsync(staging, ct).ConfigureAwait(false);
        if (produced != target.ContentDigest.ToString() || size != target.ContentSize)
            throw new CorruptDeltaException($"applying {what} gave {produced} ({size} bytes), not the target {target.ContentDigest} ({target.ContentSize} bytes)");
    }

    private static async Task<(string Digest, long Size)> DigestOfAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return ((await Digest.ComputeAsync(stream, Digest.Sha256, ct).ConfigureAwait(false)).ToString(), stream.Length);
    }

    /// <summary>The files an update uses, all in the work directory beside the output (same filesystem, so renames are atomic).</summary>
    private sealed record WorkPaths(string Work, string Output)
    {
        public string State => Path.Combine(Work, "state.json");
        public string Journal => Path.Combine(Work, "journal.json");
        public string Lock => Path.Combine(Work, "lock");
        public string Budget => Path.Combine(Work, "budget.json");
        public string NewStaging() => Path.Combine(Work, $"staging-{Guid.NewGuid():N}");
        public string NewTree() => Path.Combine(Work, $"tree-{Guid.NewGuid():N}");
        public string BaseCache(string contentDigest) => Path.Combine(Work, "base-" + contentDigest.Replace(':', '-'));
        public string BaseContent(InstallState state) =>
            state.Kind == nameof(ArtifactKind.File) ? Path.Combine(Output, state.Name) : BaseCache(state.ContentDigest);
        public string Installed(InstallState state) =>
            state.Kind == nameof(ArtifactKind.File) ? Path.Combine(Output, state.Name) : Output;

        /// <summary>The kept previous version: a folder holding the file, or the tree itself; its state beside it.</summary>
        public string Previous => Path.Combine(Work, "previous");
        public string PreviousState => Path.Combine(Work, "previous.json");
        public string Kept(InstallState state) => (this with { Output = Previous }).Installed(state);

        public void DropPrevious()
        {
            Durable.TryDelete(PreviousState); // first: a kept version without its state is never used
            if (Directory.Exists(Previous)) Directory.Delete(Previous, recursive: true);
        }

        /// <summary>Cached bases other than the installed and the kept version's: no delta will apply to them again.</summary>
        public void RemoveStaleBases(InstallState current)
        {
            var keep = new HashSet<string> { BaseCache(current.ContentDigest) };
            if (InstallState.Load(PreviousState) is { } previous) keep.Add(BaseCache(previous.ContentDigest));
            foreach (var file in Directory.EnumerateFiles(Work, "base-*"))
                if (!keep.Contains(file)) Durable.TryDelete(file);
        }

        /// <summary>Staging files and trees of an update that was interrupted: never installed, safe to remove.</summary>
        public void RemoveLeftovers()
        {
            foreach (var file in Directory.EnumerateFiles(Work, "staging-*")) Durable.TryDelete(file);
            foreach (var dir in Directory.EnumerateDirectories(Work, "tree-*"))
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

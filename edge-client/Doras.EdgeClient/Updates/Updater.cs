using System.Net;
using System.Net.Http.Headers;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates.Download;
using Doras.EdgeClient.Updates.Install;
using Doras.EdgeClient.Updates.Strategies;
using Doras.EdgeClient.Updates.Trust;
using Doras.Oci;
using Doras.Oci.Content;
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
/// This class only picks the way (<see cref="DeltaStrategy"/>, <see cref="SignatureStrategy"/>,
/// <see cref="FullStrategy"/>) and retries; <see cref="Installation"/> does the installing.
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

    public async Task<UpdateResult> UpdateAsync(UpdateOptions options, CancellationToken ct = default)
    {
        var reference = Reference.Parse(options.Reference);
        if (!reference.HasIdentifier) reference = reference.WithTag("latest");
        if (reference.Registry is not null && reference.Registry != registry?.Registry)
            throw new ArgumentException($"'{reference}' names the registry {reference.Registry}, but no client for that registry was given");

        var installation = new Installation(options.Output, options.WorkDirectory, _log) { Progress = Progress, ReserveBytes = options.ReserveBytes };
        var paths = installation.Paths;
        using var _ = await installation.LockAsync(ct).ConfigureAwait(false);
        using var stallTimeout = HttpBody.UseStallTimeout(options.StallTimeout); // every body this update reads
        paths.RemoveLeftovers();
        var deadline = new UpdateDeadline(options.Timeout, Time);
        // The update's own token: the caller's, also cancelled the moment free space falls below the reserve.
        using var reserve = new ReserveWatch(paths.Work, options.ReserveBytes, Time,
            breach => _log.LogWarning("Stopping the update of {Output}: {Reason}", options.Output, breach.Message), ct);
        try
        {
            await installation.RecoverAsync(reserve.Token).ConfigureAwait(false);
            // One deadline around everything; inside it, transient failures (server errors, dropped links) are retried
            // with backoff, and downloads resume each time.
            var retries = client.Backoff with { MaxAttempts = Math.Max(1, options.Attempts) };
            var pipeline = retries.CreatePipeline<UpdateResult>(_ => false, _ => null, Transience.IsTransient,
                (attempt, delay) => _log.LogWarning("Update attempt {Attempt} failed transiently; retrying in {Delay}", attempt, delay),
                onFailure: e => deadline.LastFailure = e, timeout: options.Timeout);
            var result = await pipeline.ExecuteAsync(async token => await AttemptAsync(reference, options, installation, deadline, token).ConfigureAwait(false), reserve.Token).ConfigureAwait(false);
            // Up to date or installed: what a killed update left (partial downloads, stale bases) is never needed again.
            paths.RemoveDownloads();
            if (installation.State is { } installed) paths.RemoveStaleBases(installed);
            Report(UpdatePhase.Done, result.Mode.ToString());
            return result;
        }
        catch (Exception) when (reserve.Breach is { } breach) // whatever the cancellation surfaced as
        {
            paths.RemoveDownloads();
            throw breach;
        }
        catch (Exception e) when (e is Polly.Timeout.TimeoutRejectedException || (deadline.HasPassed && !ct.IsCancellationRequested && (e is OperationCanceledException || Transience.IsTransient(e))))
        {
            throw deadline.Expired(reference.ToString(), e);
        }
        catch (Exception e) when (IsRefusal(e))
        {
            // Refused: what was downloaded is never resumed, so it goes now, not at the next successful update. Other
            // failures (transient, cancelled, over the data budget, a TLS clock problem) keep a download to resume.
            paths.RemoveDownloads();
            throw;
        }
        finally
        {
            paths.RemoveLeftovers(); // a failed attempt's staging is never needed again
        }
    }

    /// <summary>
    /// Puts back the version the last update replaced (kept with <see cref="UpdateOptions.KeepPrevious"/>); see
    /// <see cref="Installation.RollbackAsync"/>, which needs no server.
    /// </summary>
    public Task<UpdateResult> RollbackAsync(UpdateOptions options, CancellationToken ct = default) =>
        new Installation(options.Output, options.WorkDirectory, _log) { Progress = Progress }.RollbackAsync(ct);

    private void Report(UpdatePhase phase, string? detail = null) => Progress?.Report(new UpdateProgress(phase, Detail: detail));

    /// <summary>One attempt: by delta from a known installed version, else from the installed file's signature, else in full.</summary>
    private async Task<UpdateResult> AttemptAsync(Reference reference, UpdateOptions options, Installation installation, UpdateDeadline deadline, CancellationToken ct)
    {
        void ReportPhase(UpdatePhase phase, string? detail)
        {
            deadline.Phase = phase;
            Report(phase, detail);
        }

        ReportPhase(UpdatePhase.Checking, reference.ToString());
        var (repository, authorization) = await UpdateSource.OpenAsync(client, registry, reference, _log, ct).ConfigureAwait(false);
        var state = installation.State;
        // With verification on, the version is fixed and its signature checked before any strategy downloads a byte.
        var verified = options.Verification is { } verification
            ? await VerifiedTarget.ResolveAsync(repository, reference, options, verification, state, ct).ConfigureAwait(false)
            : null;
        var run = new UpdateRun
        {
            Reference = reference,
            Options = options,
            Installation = installation,
            Downloader = new MeteredDownloader(installation.Paths, options, Time, Progress),
            Client = client,
            Algorithms = _algorithms,
            Log = _log,
            Repository = repository,
            Authorization = authorization,
            Report = ReportPhase,
            Deadline = deadline,
            Verified = verified,
        };
        string fallback;
        var mismatch = state is null ? null : await ContentCheck.InstalledAsync(state, installation.Paths, ct).ConfigureAwait(false);
        if (state is null)
            fallback = "nothing is installed yet";
        else if (mismatch is not null)
        {
            await OutputGuard.EnsureNothingAddedAsync(state, installation.Paths, options, ct).ConfigureAwait(false);
            fallback = mismatch;
        }
        else
        {
            try
            {
                return await DeltaStrategy.RunAsync(run, state, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (IsReasonForFullDownload(e))
            {
                fallback = $"no usable delta ({e.Message})";
            }
        }
        // Only a base the server does not know needs its signature; a known one already had its chance above.
        var unknownBase = state is null || mismatch is not null;
        string? signatureMiss = null;
        if (options.UseSignatures && unknownBase && await SignatureStrategy.TryRunAsync(run, state, fallback, why => signatureMiss = why, ct).ConfigureAwait(false) is { } bySignature)
            return bySignature;
        // A file at the output that doras did not install was tried as a base: the reason says so, not "nothing is installed".
        if (signatureMiss is not null)
            fallback = state is null ? $"the file at the output was not installed by doras; {signatureMiss}" : $"{fallback}; {signatureMiss}";
        _log.LogInformation("Full download of {Reference}: {Reason}", reference, fallback);
        return await FullStrategy.RunAsync(run, state, state is not null && mismatch is null, fallback, ct).ConfigureAwait(false);
    }

    /// <summary>Failures that say the downloaded bytes, or their target, can never be used (or cannot fit): their downloads go at once.</summary>
    private static bool IsRefusal(Exception e) => Failures.KindOf(e)
        is FailureKind.Verification or FailureKind.Incompatible or FailureKind.TooLarge or FailureKind.Storage or FailureKind.Untrusted or FailureKind.Downgrade;

    /// <summary>Failures of the delta path after which a full download is the way forward (anything else is reported).</summary>
    internal static bool IsReasonForFullDownload(Exception e) => e switch
    {
        // The server's "no delta here": none possible, none known, or its build failed (remembered).
        DeltaServerException { Status: HttpStatusCode.NotAcceptable or HttpStatusCode.NotFound } => true,
        DeltaServerException { Type: Api.ProblemTypes.DeltaFailed } => true,
        // An answer past its bound is a hostile server, not a bad delta: the same server would send the full download.
        InvalidDataException => false,
        // The target itself is hostile (its tree escapes), or a stream decodes past its bound: the full download
        // would be refused the same way, after costing the whole artifact on a metered link (found by review).
        HostileArchiveException or Delta.Zstd.ZstdException => false,
        // An unusable delta, or one not ready within its share of the deadline.
        _ => Failures.KindOf(e) is FailureKind.Verification or FailureKind.Incompatible or FailureKind.Timeout,
    };
}

using Doras.Api;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>A delta request as the query string gives it.</summary>
public sealed record DeltaQuery(string? FromDigest, string? ToDigest, string? ToTag, IReadOnlyList<string> AcceptedAlgorithms, string? Platform = null);

/// <summary>The answer to a delta request, before it becomes HTTP.</summary>
public abstract record DeltaOutcome
{
    public sealed record Ready(DeltaResponse Response) : DeltaOutcome;
    public sealed record Pending(DeltaResponse Response, TimeSpan RetryAfter) : DeltaOutcome;
    public sealed record UpToDate(DeltaResponse Response) : DeltaOutcome;
    public sealed record Problem(ApiProblem Details) : DeltaOutcome;

    public static implicit operator DeltaOutcome(ApiProblem problem) => new Problem(problem);
}

/// <summary>
/// Answers delta requests: validates them, resolves both versions as the caller, serves a stored delta when
/// there is one, and otherwise starts (or reports on) its build.
/// </summary>
public sealed class DeltaService(ArtifactStores stores, ClientAccess access, DeltaAlgorithms algorithms, DeltaBuildCoordinator builds, IOptions<DeltaOptions> options, TimeProvider time,
    IPrimaryDeltas primaryDeltas)
{
    public async Task<DeltaOutcome> RequestAsync(Caller caller, DeltaQuery query, CancellationToken ct)
    {
        if (Validate(query) is { } invalid) return invalid;
        var (from, badFrom) = access.ParseImage(query.FromDigest!, DeltaApi.FromDigest);
        if (badFrom is not null) return badFrom;
        var (to, badTo) = TargetParameters.Parse(access, query.ToDigest, query.ToTag);
        if (badTo is not null) return badTo;
        if (CheckShape(query, from!, to!) is { } misshapen) return misshapen;

        // Both images are resolved as the caller: it only gets deltas of images it may read.
        var fromResolved = await access.ResolveAsync(caller, from!, "from", ct).ConfigureAwait(false);
        if (fromResolved.Problem is not null) return fromResolved.Problem;
        var toResolved = await access.ResolveAsync(caller, to!, "to", ct).ConfigureAwait(false);
        if (toResolved.Problem is not null) return toResolved.Problem;
        var fromDescriptor = fromResolved.Descriptor!;
        var toDescriptor = toResolved.Descriptor!;
        if (MediaTypes.IsIndex(toDescriptor.MediaType))
        {
            var (entry, problem) = await PlatformEntryAsync(caller, to!, toDescriptor, query.Platform, ct).ConfigureAwait(false);
            if (problem is not null) return problem;
            toDescriptor = entry!;
        }

        var repository = stores.Server.Repository(from!.Repository);
        var name = stores.Name(from.Repository);
        var toImage = $"{name}@{toDescriptor.Digest}";
        if (fromDescriptor.Digest == toDescriptor.Digest)
            return new DeltaOutcome.UpToDate(new DeltaResponse { Status = DeltaStatus.UpToDate, ToImage = toImage });
        if (query.AcceptedAlgorithms.Count == 0)
            return ApiProblem.Invalid($"'{DeltaApi.AcceptedAlgorithm}' is required at least once when the versions differ, e.g. {DeltaApi.AcceptedAlgorithm}=auto");

        DeltaSubject subject;
        try
        {
            subject = await DeltaPlans.ReadAsync(repository, fromDescriptor, toDescriptor, $"from image {from}", $"to image {to}", ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IncompatibleArtifactException or InvalidDataException)
        {
            return ApiProblem.For(Failures.KindOf(e), e.Message);
        }
        if (DeltaPlans.SameContent(subject))
            return new DeltaOutcome.UpToDate(new DeltaResponse { Status = DeltaStatus.UpToDate, ToImage = toImage, FullSize = subject.FullDownloadBytes });
        var (plan, whyNot) = DeltaPlans.Choose(algorithms, subject, query.AcceptedAlgorithms);
        if (plan is null) return ApiProblem.NotAcceptable(whyNot!);
        var fromImage = $"{name}@{fromDescriptor.Digest}";
        var pending = (BuildState.Running r) => new DeltaOutcome.Pending(
            new DeltaResponse { Status = DeltaStatus.Pending, ToImage = toImage, Algorithm = plan.KeyName, FullSize = subject.FullDownloadBytes },
            RetryAfter(r.Expected - time.GetUtcNow()));

        // A delta the client can apply may be stored, or being built, under another name than this request's.
        foreach (var storedName in plan.StoredNames)
        {
            var key = new DeltaKey(repository.Name, fromDescriptor.Digest, toDescriptor.Digest, storedName);
            if (builds.Peek(key) is { } running) return pending(running);
            switch (await DeltaRecords.ReadAsync(repository, key, ct).ConfigureAwait(false))
            {
                case DeltaRecord.Ready stored when await ReadyAsync(repository, name, stored.Manifest, toImage, plan, ct).ConfigureAwait(false) is { } ready:
                    return ready;
                case DeltaRecord.Failed failed when storedName == plan.KeyName && failed.Stands(time.GetUtcNow(), options.Value):
                    return BuildFailed(plan.KeyName, fromImage, toImage, failed.Reason, failed.At, failed.NotApplicable, failed.Failures);
            }
        }

        if (!await stores.ServerCanPushAsync(from.Repository, ct).ConfigureAwait(false))
            return new ApiProblem(StatusCodes.Status500InternalServerError, ProblemTypes.DeltaFailed, "Delta cannot be stored",
                $"this server's registry credentials may not push to {name}, so it cannot store a delta there; give them push access");

        var buildKey = new DeltaKey(repository.Name, fromDescriptor.Digest, toDescriptor.Digest, plan.KeyName);
        // A replica asks its primary instead of building (null when this server is the repository's primary).
        var state = await primaryDeltas.FromPrimaryAsync(buildKey, repository, query.AcceptedAlgorithms, ct).ConfigureAwait(false)
            ?? builds.GetOrStart(new DeltaJob(buildKey, repository, name, subject, toDescriptor, plan.Candidates));
        return state switch
        {
            BuildState.Succeeded s => await ReadyAsync(repository, name, s.Manifest, toImage, plan, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"the delta built for {buildKey} is made by an algorithm the request did not accept"),
            BuildState.Failed f => BuildFailed(plan.KeyName, fromImage, toImage, f.Reason, f.At, f.NotApplicable, f.Failures),
            BuildState.Running r => pending(r),
            BuildState.Busy b => ApiProblem.Busy($"this server has taken on as many builds as it queues ({b.Capacity}); ask again later", (int)b.RetryAfter.TotalSeconds),
            _ => throw new InvalidOperationException($"unknown build state {state}"),
        };
    }

    /// <summary>
    /// The stored delta, or with <c>auto</c>, a 406 when it is not meaningfully smaller than the full download; null
    /// when it is made by an algorithm the client did not accept. An image delta counts with the layers it leaves the
    /// device to download.
    /// </summary>
    private async Task<DeltaOutcome?> ReadyAsync(IOciRepository repository, string name, Descriptor deltaManifest, string toImage, DeltaPlan plan, CancellationToken ct)
    {
        var manifest = await repository.FetchManifestAsync(deltaManifest, ct).ConfigureAwait(false);
        var deltaSize = manifest.Layers.Sum(l => l.Size);
        var chosen = manifest.Annotation(DorasAnnotations.DeltaAlgorithm) ?? "";
        if (!plan.CanApply(manifest)) return null;
        var fetched = long.TryParse(manifest.Annotation(DorasAnnotations.ImageDeltaFetchBytes), System.Globalization.CultureInfo.InvariantCulture, out var f) && f > 0 ? f : 0;
        var fullSize = plan.Subject.FullDownloadBytes;
        if (plan.Auto && deltaSize + fetched > options.Value.AutoMaxRatio * fullSize)
            return new ApiProblem(StatusCodes.Status406NotAcceptable, ProblemTypes.DeltaNotWorthwhile, "Delta not worthwhile",
                $"the smallest delta ({chosen}, {(fetched > 0 ? $"{deltaSize + fetched} bytes with the layers it leaves to download" : $"{deltaSize} bytes")}) is over {options.Value.AutoMaxRatio:P0} of the full download ({fullSize} bytes); download {toImage} instead");
        return new DeltaOutcome.Ready(new DeltaResponse
        {
            Status = DeltaStatus.Ready,
            ToImage = toImage,
            DeltaImage = $"{name}@{deltaManifest.Digest}",
            Algorithm = chosen,
            DeltaSize = deltaSize,
            FullSize = fullSize,
            DeltaLayer = manifest.Layers is [var layer]
                ? new DeltaLayer { MediaType = layer.MediaType, Digest = layer.Digest.ToString(), Size = layer.Size, Annotations = layer.Annotations }
                : null,
        });
    }

    /// <summary>A multi-platform to image: the manifest of the requested platform, read as the caller (deltas are between platform manifests).</summary>
    private async Task<(Descriptor? Entry, ApiProblem? Problem)> PlatformEntryAsync(Caller caller, Reference to, Descriptor index, string? platformText, CancellationToken ct)
    {
        var repository = caller.Images.Repository(to.Repository);
        try
        {
            if (platformText is null)
            {
                var entries = OciJson.Deserialize<ImageIndex>(await repository.FetchBytesAsync(index, ct: ct).ConfigureAwait(false), $"index {to}").Manifests;
                return (null, ApiProblem.Invalid($"the to image {to} is a multi-platform index ({string.Join(", ", entries.Select(e => e.Platform is { } p ? Platforms.Format(p) : "(no platform)"))}): " +
                    $"add {DeltaApi.Platform}=os/arch[/variant], or name the platform's manifest with {DeltaApi.ToDigest}"));
            }
            return (await repository.ResolvePlatformAsync(index.Digest.ToString(), Platforms.Parse(platformText), ct).ConfigureAwait(false), null);
        }
        catch (FormatException e) { return (null, ApiProblem.Invalid($"'{DeltaApi.Platform}': {e.Message}")); }
        catch (NotFoundException e) { return (null, ApiProblem.NotFound(e.Message, "MANIFEST_UNKNOWN")); }
        catch (InvalidDataException e) { return (null, ApiProblem.For(Failures.KindOf(e), e.Message)); }
    }

    private DeltaOutcome BuildFailed(string algorithm, string from, string to, string reason, DateTimeOffset at, bool notApplicable, int failures) => notApplicable
        ? ApiProblem.NotAcceptable($"no {algorithm} delta can be made from {from} to {to}: {reason}")
        : new ApiProblem(StatusCodes.Status500InternalServerError, ProblemTypes.DeltaFailed, "Delta computation failed",
            $"computing the {algorithm} delta from {from} to {to} failed at {at:O}: {reason}." + (failures == 0
                ? "" // counted, and said, by the server that built it (a replica's primary)
                : $" It will be retried after {options.Value.FailureRetentionAfter(failures).TotalMinutes:0.#} minutes{(failures > 1 ? $" (it failed {failures} times in a row)" : "")}."));

    /// <summary>
    /// Ask again when the build should be done (its estimate), at most <c>MaxRetryAfterSeconds</c> ahead; a build
    /// that overruns its estimate is asked about every 2 seconds.
    /// </summary>
    private TimeSpan RetryAfter(TimeSpan remaining) =>
        TimeSpan.FromSeconds(remaining <= TimeSpan.Zero ? 2 : Math.Clamp(Math.Ceiling(remaining.TotalSeconds), 1, options.Value.MaxRetryAfterSeconds));

    private static ApiProblem? Validate(DeltaQuery q)
    {
        if (string.IsNullOrEmpty(q.FromDigest))
            return ApiProblem.Invalid($"'{DeltaApi.FromDigest}' is required: the installed image by digest, e.g. repo@sha256:…");
        return TargetParameters.CheckExactlyOne(q.ToDigest, q.ToTag);
    }

    private static ApiProblem? CheckShape(DeltaQuery q, Reference from, Reference to)
    {
        if (from.Digest is null)
            return ApiProblem.Invalid($"'{DeltaApi.FromDigest}' must name the image by digest (repo@sha256:…), got '{from}'");
        if (q.ToDigest is not null && (to.Digest is null || to.Tag is not null))
            return ApiProblem.Invalid($"'{DeltaApi.ToDigest}' must name the image by digest only (repo@sha256:…), got '{to}'");
        if (q.ToTag is not null && (to.Tag is null || to.Digest is not null))
            return ApiProblem.Invalid($"'{DeltaApi.ToTag}' must name the image by tag only (repo:tag), got '{to}'");
        if (from.Name != to.Name)
            return ApiProblem.Invalid($"from and to must be in the same repository, got '{from.Name}' and '{to.Name}'");
        return null;
    }
}

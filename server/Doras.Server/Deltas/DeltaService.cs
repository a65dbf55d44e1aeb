using System.Net;
using System.Net.Http.Headers;
using Doras.Api;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>A delta request as the query string gives it.</summary>
public sealed record DeltaQuery(string? FromDigest, string? ToDigest, string? ToTag, IReadOnlyList<string> AcceptedAlgorithms, AuthenticationHeaderValue? Authorization = null);

/// <summary>The answer to a delta request, before it becomes HTTP.</summary>
public abstract record DeltaOutcome
{
    public sealed record Ready(DeltaResponse Response) : DeltaOutcome;
    public sealed record Pending(DeltaResponse Response, TimeSpan RetryAfter) : DeltaOutcome;
    public sealed record UpToDate(DeltaResponse Response) : DeltaOutcome;
    public sealed record Problem(int Status, string Type, string Title, string Detail) : DeltaOutcome;
}

/// <summary>
/// Answers delta requests: validates them, resolves both versions, serves a stored delta when there is one,
/// and otherwise starts (or reports on) its build.
/// </summary>
public sealed class DeltaService(ArtifactStores stores, DeltaAlgorithms algorithms, DeltaBuildCoordinator builds, IOptions<DeltaOptions> options, TimeProvider time)
{
    public async Task<DeltaOutcome> RequestAsync(DeltaQuery query, CancellationToken ct)
    {
        if (Validate(query) is { } invalid) return invalid;
        var from = Reference.Parse(query.FromDigest!);
        var to = Reference.Parse((query.ToDigest ?? query.ToTag)!);

        if (algorithms.Choose(query.AcceptedAlgorithms) is not { } algorithm)
            return NotAcceptable($"none of the accepted algorithms ({string.Join(", ", query.AcceptedAlgorithms)}) is supported; this server supports: {string.Join(", ", algorithms.Names)}");

        if (stores.CheckRegistry(from) is { } wrongRegistry) return Invalid(wrongRegistry);
        if (stores.RequireClientAuth && query.Authorization is null)
            return Unauthorized($"this server reads images from {stores.RegistryHost} with the client's own authorization: send the registry credentials or token in the Authorization header");

        // Resolve both images as the client: it only gets deltas of images it may read.
        Descriptor? fromDescriptor, toDescriptor;
        try
        {
            var asClient = stores.ForClient(query.Authorization).Repository(from.Repository);
            fromDescriptor = await asClient.TryResolveAsync(from.Identifier, ct).ConfigureAwait(false);
            if (fromDescriptor is null) return NotFound($"the from image {from} does not exist");
            toDescriptor = await asClient.TryResolveAsync(to.Identifier, ct).ConfigureAwait(false);
            if (toDescriptor is null) return NotFound($"the to image {to} does not exist");
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            return Unauthorized($"the registry refused to show {from.Name} to this client: {e.Message}");
        }

        var repository = stores.Server.Repository(from.Repository);
        var name = stores.Name(from.Repository);
        var toImage = $"{name}@{toDescriptor.Digest}";
        if (fromDescriptor.Digest == toDescriptor.Digest)
            return new DeltaOutcome.UpToDate(new DeltaResponse { Status = DeltaStatus.UpToDate, ToImage = toImage });

        ArtifactLayer fromLayer, toLayer;
        try
        {
            fromLayer = ArtifactLayer.From(await repository.FetchManifestAsync(fromDescriptor, ct).ConfigureAwait(false), $"from image {from}");
            toLayer = ArtifactLayer.From(await repository.FetchManifestAsync(toDescriptor, ct).ConfigureAwait(false), $"to image {to}");
        }
        catch (Exception e) when (e is IncompatibleArtifactException or InvalidDataException)
        {
            return NotAcceptable(e.Message);
        }
        if (!fromLayer.IsCompatibleWith(toLayer))
            return NotAcceptable($"cannot make a delta from a {fromLayer.Kind.ToString().ToLowerInvariant()} artifact to a {toLayer.Kind.ToString().ToLowerInvariant()} artifact");
        if (fromLayer.ContentDigest == toLayer.ContentDigest)
            return new DeltaOutcome.UpToDate(new DeltaResponse { Status = DeltaStatus.UpToDate, ToImage = toImage, FullSize = toLayer.Layer.Size });

        var key = new DeltaKey(repository.Name, fromDescriptor.Digest, toDescriptor.Digest, algorithm.Name);
        var auto = algorithm.Candidates.Count > 1 || algorithm.Name.StartsWith(DeltaAlgorithms.Auto, StringComparison.Ordinal);
        switch (await DeltaRecords.ReadAsync(repository, key, ct).ConfigureAwait(false))
        {
            case DeltaRecord.Ready stored:
                return await ReadyAsync(repository, name, stored.Manifest, toImage, auto, toLayer, ct).ConfigureAwait(false);
            case DeltaRecord.Failed failed when time.GetUtcNow() - failed.At < options.Value.FailureRetention:
                return BuildFailed(algorithm.Name, $"{name}@{fromDescriptor.Digest}", toImage, failed.Reason, failed.At);
        }

        if (!await stores.ServerCanPushAsync(from.Repository, ct).ConfigureAwait(false))
            return new DeltaOutcome.Problem(StatusCodes.Status500InternalServerError, ProblemTypes.DeltaFailed, "Delta cannot be stored",
                $"this server's registry credentials may not push to {name}, so it cannot store a delta there; give them push access");

        var state = builds.GetOrStart(new DeltaJob(key, repository, name, fromLayer, toLayer, toDescriptor, algorithm.Candidates));
        return state switch
        {
            BuildState.Succeeded s => await ReadyAsync(repository, name, s.Manifest, toImage, auto, toLayer, ct).ConfigureAwait(false),
            BuildState.Failed f => BuildFailed(algorithm.Name, $"{name}@{fromDescriptor.Digest}", toImage, f.Reason, f.At),
            BuildState.Running r => new DeltaOutcome.Pending(
                new DeltaResponse { Status = DeltaStatus.Pending, ToImage = toImage, Algorithm = algorithm.Name, FullSize = toLayer.Layer.Size },
                RetryAfter(time.GetUtcNow() - r.Since)),
            _ => throw new InvalidOperationException($"unknown build state {state}"),
        };
    }

    /// <summary>The stored delta, or with <c>auto</c>, a 406 when it is not meaningfully smaller than the full download.</summary>
    private async Task<DeltaOutcome> ReadyAsync(IOciRepository repository, string name, Descriptor deltaManifest, string toImage, bool auto, ArtifactLayer toLayer, CancellationToken ct)
    {
        var manifest = await repository.FetchManifestAsync(deltaManifest, ct).ConfigureAwait(false);
        var deltaSize = manifest.Layers.Sum(l => l.Size);
        var chosen = manifest.Annotation(Annotations.DeltaAlgorithm) ?? "";
        if (auto && deltaSize > options.Value.AutoMaxRatio * toLayer.Layer.Size)
            return new DeltaOutcome.Problem(StatusCodes.Status406NotAcceptable, ProblemTypes.DeltaNotWorthwhile, "Delta not worthwhile",
                $"the smallest delta ({chosen}, {deltaSize} bytes) is over {options.Value.AutoMaxRatio:P0} of the full download ({toLayer.Layer.Size} bytes); download {toImage} instead");
        return new DeltaOutcome.Ready(new DeltaResponse
        {
            Status = DeltaStatus.Ready,
            ToImage = toImage,
            DeltaImage = $"{name}@{deltaManifest.Digest}",
            Algorithm = chosen,
            DeltaSize = deltaSize,
            FullSize = toLayer.Layer.Size,
        });
    }

    private DeltaOutcome BuildFailed(string algorithm, string from, string to, string reason, DateTimeOffset at) =>
        new DeltaOutcome.Problem(StatusCodes.Status500InternalServerError, ProblemTypes.DeltaFailed, "Delta computation failed",
            $"computing the {algorithm} delta from {from} to {to} failed at {at:O}: {reason}. It will be retried after {options.Value.FailureRetention.TotalMinutes:0.#} minutes.");

    /// <summary>Ask again soon at first, then less often the longer a build runs.</summary>
    private TimeSpan RetryAfter(TimeSpan running) =>
        TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(running.TotalSeconds / 2), 1, options.Value.MaxRetryAfterSeconds));

    private static DeltaOutcome? Validate(DeltaQuery q)
    {
        if (string.IsNullOrEmpty(q.FromDigest))
            return Invalid($"'{DeltaApi.FromDigest}' is required: the installed image by digest, e.g. repo@sha256:…");
        if (string.IsNullOrEmpty(q.ToDigest) == string.IsNullOrEmpty(q.ToTag))
            return Invalid($"give exactly one of '{DeltaApi.ToDigest}' (repo@sha256:…) and '{DeltaApi.ToTag}' (repo:tag)");
        if (q.AcceptedAlgorithms.Count == 0)
            return Invalid($"'{DeltaApi.AcceptedAlgorithm}' is required at least once, e.g. {DeltaApi.AcceptedAlgorithm}=zstd");

        Reference from, to;
        try { from = Reference.Parse(q.FromDigest); }
        catch (FormatException e) { return Invalid($"'{DeltaApi.FromDigest}': {e.Message}"); }
        try { to = Reference.Parse((q.ToDigest ?? q.ToTag)!); }
        catch (FormatException e) { return Invalid($"'{(q.ToDigest is null ? DeltaApi.ToTag : DeltaApi.ToDigest)}': {e.Message}"); }

        if (from.Digest is null)
            return Invalid($"'{DeltaApi.FromDigest}' must name the image by digest (repo@sha256:…), got '{from}'");
        if (q.ToDigest is not null && (to.Digest is null || to.Tag is not null))
            return Invalid($"'{DeltaApi.ToDigest}' must name the image by digest only (repo@sha256:…), got '{to}'");
        if (q.ToTag is not null && (to.Tag is null || to.Digest is not null))
            return Invalid($"'{DeltaApi.ToTag}' must name the image by tag only (repo:tag), got '{to}'");
        if (from.Name != to.Name)
            return Invalid($"from and to must be in the same repository, got '{from.Name}' and '{to.Name}'");
        return null;
    }

    private static DeltaOutcome Invalid(string detail) =>
        new DeltaOutcome.Problem(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "Invalid delta request", detail);

    private static DeltaOutcome Unauthorized(string detail) =>
        new DeltaOutcome.Problem(StatusCodes.Status401Unauthorized, ProblemTypes.Unauthorized, "Not authorized", detail);

    private static DeltaOutcome NotFound(string detail) =>
        new DeltaOutcome.Problem(StatusCodes.Status404NotFound, ProblemTypes.NotFound, "Image not found", detail);

    private static DeltaOutcome NotAcceptable(string detail) =>
        new DeltaOutcome.Problem(StatusCodes.Status406NotAcceptable, ProblemTypes.NotAcceptable, "No delta possible", detail);
}

using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Doras.Api;
using Doras.Server.Deltas;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Doras.Server.Endpoints;

/// <summary>
/// The query of a delta request (<c>GET /api/v1/delta</c>, and the peer API's), bound by the framework so the API
/// document describes it from here. An image parameter is bound with all its values (an array of at most one, in the
/// document), so one given twice is refused here rather than read as its values joined by a comma.
/// </summary>
public sealed record DeltaParameters(
    [FromQuery(Name = DeltaApi.FromDigest)][property: MaxLength(1), Description("The installed image by digest: repo@sha256:… (required, once)")] string[]? FromDigest,
    [FromQuery(Name = DeltaApi.ToDigest)][property: MaxLength(1), Description("The target by digest: repo@sha256:… (this or to_tag, once)")] string[]? ToDigest,
    [FromQuery(Name = DeltaApi.ToTag)][property: MaxLength(1), Description("The target by tag: repo:tag (this or to_digest, once)")] string[]? ToTag,
    [FromQuery(Name = DeltaApi.AcceptedAlgorithm)][property: Description(DeltaEndpoints.AcceptedAlgorithmDescription)] string[]? AcceptedAlgorithm,
    [FromQuery(Name = DeltaApi.Platform)][property: Description("When the target is a multi-platform index: the platform (os/arch[/variant]) whose manifest the delta goes to")] string? Platform)
{
    public (DeltaQuery? Query, ApiProblem? Problem) ToQuery()
    {
        if ((Once(DeltaApi.FromDigest, FromDigest) ?? Once(DeltaApi.ToDigest, ToDigest) ?? Once(DeltaApi.ToTag, ToTag)) is { } duplicate) return (null, duplicate);
        var accepted = (AcceptedAlgorithm ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        return (new DeltaQuery(First(FromDigest), First(ToDigest), First(ToTag), accepted, string.IsNullOrEmpty(Platform) ? null : Platform), null);
    }

    internal static string? First(string[]? values) => values is [{ Length: > 0 } value, ..] ? value : null;

    internal static ApiProblem? Once(string name, string[]? values) =>
        values is { Length: > 1 } ? ApiProblem.Invalid($"'{name}' was given {values.Length} times; give it once") : null;
}

/// <summary>The query of <c>POST /api/v1/delta/from-signature</c>: the target only (the body is the signature).</summary>
public sealed record SignatureParameters(
    [FromQuery(Name = DeltaApi.ToDigest)][property: MaxLength(1), Description("The target by digest: repo@sha256:… (this or to_tag, once)")] string[]? ToDigest,
    [FromQuery(Name = DeltaApi.ToTag)][property: MaxLength(1), Description("The target by tag: repo:tag (this or to_digest, once)")] string[]? ToTag)
{
    public (string? ToDigest, string? ToTag, ApiProblem? Problem) Target() =>
        (DeltaParameters.Once(DeltaApi.ToDigest, ToDigest) ?? DeltaParameters.Once(DeltaApi.ToTag, ToTag)) is { } duplicate
            ? (null, null, duplicate)
            : (DeltaParameters.First(ToDigest), DeltaParameters.First(ToTag), null);
}

/// <summary>A delta outcome as HTTP, the same for devices and peers: 200, 202 with <c>Retry-After</c>, or the problem.</summary>
public static class DeltaResults
{
    public static Results<Ok<DeltaResponse>, Accepted<DeltaResponse>, ProblemHttpResult> Of(HttpContext http, DeltaOutcome outcome)
    {
        switch (outcome)
        {
            case DeltaOutcome.Ready r: return TypedResults.Ok(r.Response);
            case DeltaOutcome.UpToDate u: return TypedResults.Ok(u.Response);
            case DeltaOutcome.Pending p:
                RetryAfter.Set(http.Response, p.RetryAfter);
                return TypedResults.Accepted(http.Request.Path + http.Request.QueryString, p.Response);
            case DeltaOutcome.Problem p: return p.Details.ToResult(http);
            default: throw new InvalidOperationException($"unhandled outcome {outcome}");
        }
    }
}

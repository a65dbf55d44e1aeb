using Doras.Api;
using Doras.Server.Access;
using Doras.Server.Deltas;
using Doras.Server.Hosting;
using Doras.Server.Observability;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Doras.Server.Endpoints;

/// <summary>
/// <c>GET /api/v1/delta</c> and <c>POST /api/v1/delta/from-signature</c>: thin HTTP over <see cref="DeltaAnswers"/>
/// and <see cref="SignatureDeltaService"/>. Map them on a group behind <see cref="ClientAccess.Filter"/>.
/// </summary>
public static class DeltaEndpoints
{
    public static void MapDeltaEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(DeltaApi.Path, async (HttpContext http, DeltaAnswers deltas, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            if ((Single(q, DeltaApi.FromDigest) ?? Single(q, DeltaApi.ToDigest) ?? Single(q, DeltaApi.ToTag)) is { } duplicate)
                return duplicate.ToResult(http);
            var accepted = q[DeltaApi.AcceptedAlgorithm]
                .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .ToList();
            var query = new DeltaQuery(Value(q[DeltaApi.FromDigest]), Value(q[DeltaApi.ToDigest]), Value(q[DeltaApi.ToTag]), accepted, Value(q[DeltaApi.Platform]));

            return await deltas.RequestAsync(ClientAccess.CallerOf(http), query, ct) switch
            {
                DeltaOutcome.Ready r => Results.Ok(r.Response),
                DeltaOutcome.UpToDate u => Results.Ok(u.Response),
                DeltaOutcome.Pending p => Pending(http, p),
                DeltaOutcome.Problem p => p.Details.ToResult(http),
                var other => throw new InvalidOperationException($"unhandled outcome {other}"),
            };
        })
        .WithName("GetDelta")
        .WithSummary("The delta from an installed version to a target: ready (200), up to date (200), or being built (202 + Retry-After).")
        .WithQueryParameters(
            new QueryParameter(DeltaApi.FromDigest, "The installed image by digest: repo@sha256:… (required)"),
            new QueryParameter(DeltaApi.ToDigest, "The target by digest: repo@sha256:… (this or to_tag)"),
            new QueryParameter(DeltaApi.ToTag, "The target by tag: repo:tag (this or to_digest)"),
            new QueryParameter(DeltaApi.AcceptedAlgorithm, $"An algorithm the client applies: auto or {app.ServiceProvider.GetRequiredService<Doras.Delta.Algorithms.DeltaAlgorithms>().Listing}; repeat or comma-separate", Repeatable: true),
            new QueryParameter(DeltaApi.Platform, "When the target is a multi-platform index: the platform (os/arch[/variant]) whose manifest the delta goes to"))
        .Produces<DeltaResponse>(StatusCodes.Status200OK)
        .Produces<DeltaResponse>(StatusCodes.Status202Accepted)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable)
        .ProducesProblem(StatusCodes.Status500InternalServerError)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost(DeltaApi.SignaturePath, async (HttpContext http, SignatureDeltaService signatures, IOptions<DeltaOptions> options, CancellationToken ct) =>
        {
            // The service bounds the body by Delta:MaxSignatureBytes itself (413), not Kestrel's default of 30 MB.
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
                bodyLimit.MaxRequestBodySize = options.Value.MaxSignatureBytes + 1;
            var q = http.Request.Query;
            var outcome = await signatures.BuildAsync(ClientAccess.CallerOf(http), Value(q[DeltaApi.ToDigest]), Value(q[DeltaApi.ToTag]),
                http.Request.Body, http.Request.ContentLength, ct);
            switch (outcome)
            {
                case SignatureOutcome.Delta d:
                    http.Response.Headers[DeltaApi.ToImageHeader] = d.ToImage;
                    return Results.Stream(d.Content, DeltaApi.OctodiffMediaType);
                case SignatureOutcome.Problem p:
                    return p.Details.ToResult(http);
                default:
                    throw new InvalidOperationException($"unhandled outcome {outcome}");
            }
        })
        .WithName("PostSignatureDelta")
        .WithSummary("A raw Octodiff delta from the file whose Octodiff signature is the body, to the target's content.")
        .WithQueryParameters(
            new QueryParameter(DeltaApi.ToDigest, "The target by digest: repo@sha256:… (this or to_tag)"),
            new QueryParameter(DeltaApi.ToTag, "The target by tag: repo:tag (this or to_digest)"))
        .Accepts<Stream>("application/octet-stream")
        .Produces(StatusCodes.Status200OK, contentType: DeltaApi.OctodiffMediaType)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable)
        .ProducesProblem(StatusCodes.Status408RequestTimeout)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static IResult Pending(HttpContext http, DeltaOutcome.Pending pending)
    {
        http.Response.Headers.RetryAfter = ((int)Math.Ceiling(pending.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Accepted(http.Request.Path + http.Request.QueryString, pending.Response);
    }

    private static string? Value(StringValues values) => values.Count == 0 || string.IsNullOrEmpty(values[0]) ? null : values[0];

    private static ApiProblem? Single(IQueryCollection query, string name) =>
        query[name].Count > 1 ? ApiProblem.Invalid($"'{name}' was given {query[name].Count} times; give it once") : null;
}

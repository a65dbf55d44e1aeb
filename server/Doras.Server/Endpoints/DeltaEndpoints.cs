using Doras.Api;
using Doras.Server.Deltas;
using Microsoft.Extensions.Primitives;

namespace Doras.Server.Endpoints;

/// <summary><c>GET /api/v1/delta</c>: thin HTTP over <see cref="DeltaService"/>.</summary>
public static class DeltaEndpoints
{
    public static void MapDeltaEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(DeltaApi.Path, async (HttpContext http, DeltaService deltas, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            if (Single(q, DeltaApi.FromDigest) is { } dupFrom) return dupFrom;
            if (Single(q, DeltaApi.ToDigest) is { } dupToDigest) return dupToDigest;
            if (Single(q, DeltaApi.ToTag) is { } dupToTag) return dupToTag;
            var accepted = q[DeltaApi.AcceptedAlgorithm]
                .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .ToList();
            var query = new DeltaQuery(Value(q[DeltaApi.FromDigest]), Value(q[DeltaApi.ToDigest]), Value(q[DeltaApi.ToTag]), accepted, Authorization(http));

            return await deltas.RequestAsync(query, ct) switch
            {
                DeltaOutcome.Ready r => Results.Ok(r.Response),
                DeltaOutcome.UpToDate u => Results.Ok(u.Response),
                DeltaOutcome.Pending p => Pending(http, p),
                DeltaOutcome.Problem p => Results.Problem(p.Detail, statusCode: p.Status, title: p.Title, type: p.Type),
                var other => throw new InvalidOperationException($"unhandled outcome {other}"),
            };
        })
        .WithName("GetDelta")
        .Produces<DeltaResponse>(StatusCodes.Status200OK)
        .Produces<DeltaResponse>(StatusCodes.Status202Accepted)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable)
        .ProducesProblem(StatusCodes.Status500InternalServerError);

        app.MapPost(DeltaApi.SignaturePath, async (HttpContext http, SignatureDeltaService signatures, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            var outcome = await signatures.BuildAsync(Value(q[DeltaApi.ToDigest]), Value(q[DeltaApi.ToTag]), http.Request.Body, Authorization(http), ct);
            switch (outcome)
            {
                case SignatureOutcome.Delta d:
                    http.Response.Headers[DeltaApi.ToImageHeader] = d.ToImage;
                    return Results.Stream(d.Content, DeltaApi.OctodiffMediaType);
                case SignatureOutcome.Problem { Details: var p }:
                    return Results.Problem(p.Detail, statusCode: p.Status, title: p.Title, type: p.Type);
                default:
                    throw new InvalidOperationException($"unhandled outcome {outcome}");
            }
        })
        .WithName("PostSignatureDelta")
        .Accepts<Stream>("application/octet-stream")
        .Produces(StatusCodes.Status200OK, contentType: DeltaApi.OctodiffMediaType)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable);
    }

    private static System.Net.Http.Headers.AuthenticationHeaderValue? Authorization(HttpContext http) =>
        System.Net.Http.Headers.AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization.ToString(), out var parsed) ? parsed : null;

    private static IResult Pending(HttpContext http, DeltaOutcome.Pending pending)
    {
        http.Response.Headers.RetryAfter = ((int)Math.Ceiling(pending.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Accepted(http.Request.Path + http.Request.QueryString, pending.Response);
    }

    private static string? Value(StringValues values) => values.Count == 0 || string.IsNullOrEmpty(values[0]) ? null : values[0];

    private static IResult? Single(IQueryCollection query, string name) =>
        query[name].Count > 1
            ? Results.Problem($"'{name}' was given {query[name].Count} times; give it once", statusCode: StatusCodes.Status400BadRequest, title: "Invalid delta request", type: ProblemTypes.InvalidRequest)
            : null;
}

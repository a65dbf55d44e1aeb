using Doras.Api;
using Doras.Server.Access;
using Doras.Server.Deltas;
using Doras.Server.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Doras.Server.Endpoints;

/// <summary>
/// <c>GET /api/v1/delta</c> and <c>POST /api/v1/delta/from-signature</c>: thin HTTP over <see cref="DeltaService"/>
/// and <see cref="SignatureDeltaService"/>. Map them on a group behind <see cref="ClientAccess.Filter"/>.
/// </summary>
public static class DeltaEndpoints
{
    public static void MapDeltaEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(DeltaApi.Path, async (HttpContext http, DeltaService deltas, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            if ((Single(q, DeltaApi.FromDigest) ?? Single(q, DeltaApi.ToDigest) ?? Single(q, DeltaApi.ToTag)) is { } duplicate)
                return duplicate.ToResult(http);
            var accepted = q[DeltaApi.AcceptedAlgorithm]
                .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .ToList();
            var query = new DeltaQuery(Value(q[DeltaApi.FromDigest]), Value(q[DeltaApi.ToDigest]), Value(q[DeltaApi.ToTag]), accepted);

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
        .Accepts<Stream>("application/octet-stream")
        .Produces(StatusCodes.Status200OK, contentType: DeltaApi.OctodiffMediaType)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable)
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

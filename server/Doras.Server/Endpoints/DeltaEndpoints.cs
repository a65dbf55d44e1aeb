using Doras.Api;
using Doras.Server.Access;
using Doras.Server.Authorization;
using Doras.Server.Deltas;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Doras.Server.Endpoints;

/// <summary>
/// <c>GET /api/v1/delta</c> and <c>POST /api/v1/delta/from-signature</c>: thin HTTP over <see cref="DeltaAnswers"/>
/// and <see cref="SignatureDeltaService"/>, for device clients (<see cref="CallerPolicies.DeviceClient"/>).
/// </summary>
public static class DeltaEndpoints
{
    /// <summary>
    /// <c>accepted_algorithm</c> in the API document; <see cref="Observability.OpenApiAlgorithms"/> completes it with the
    /// names of the algorithm registry (an attribute can only hold a constant).
    /// </summary>
    internal const string AcceptedAlgorithmDescription = "An algorithm the client applies; repeat or comma-separate";

    public static void MapDeltaEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(DeltaApi.Path, async Task<Results<Ok<DeltaResponse>, Accepted<DeltaResponse>, ProblemHttpResult>> (
            [AsParameters] DeltaParameters parameters, Caller caller, HttpContext http, DeltaAnswers deltas, CancellationToken ct) =>
        {
            var (query, invalid) = parameters.ToQuery();
            return invalid is not null ? invalid.ToResult(http) : DeltaResults.Of(http, await deltas.RequestAsync(caller, query!, ct));
        })
        .RequireAuthorization(CallerPolicies.DeviceClient)
        .WithName("GetDelta")
        .WithSummary("The delta from an installed version to a target: ready (200), up to date (200), or being built (202 + Retry-After).")
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status406NotAcceptable)
        .ProducesProblem(StatusCodes.Status500InternalServerError)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost(DeltaApi.SignaturePath, async Task<Results<FileStreamHttpResult, ProblemHttpResult>> (
            [AsParameters] SignatureParameters parameters, Caller caller, HttpContext http, SignatureDeltaService signatures, IOptions<DeltaOptions> options, CancellationToken ct) =>
        {
            var (toDigest, toTag, invalid) = parameters.Target();
            if (invalid is not null) return invalid.ToResult(http);
            // The service bounds the body by Delta:MaxSignatureBytes itself (413), not Kestrel's default of 30 MB.
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
                bodyLimit.MaxRequestBodySize = options.Value.MaxSignatureBytes + 1;
            switch (await signatures.BuildAsync(caller, toDigest, toTag, http.Request.Body, http.Request.ContentLength, ct))
            {
                case SignatureOutcome.Delta d:
                    http.Response.Headers[DeltaApi.ToImageHeader] = d.ToImage;
                    return TypedResults.Stream(d.Content, DeltaApi.OctodiffMediaType);
                case SignatureOutcome.Problem p:
                    return p.Details.ToResult(http);
                case var other:
                    throw new InvalidOperationException($"unhandled outcome {other}");
            }
        })
        .RequireAuthorization(CallerPolicies.DeviceClient)
        .WithName("PostSignatureDelta")
        .WithSummary("A raw Octodiff delta from the file whose Octodiff signature is the body, to the target's content.")
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
}

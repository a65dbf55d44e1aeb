using Doras.Api;
using Doras.Oci;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Doras.Server.Problems;

/// <summary>
/// An RFC 9457 problem the server answers with, before it becomes HTTP: status, type, title and detail, plus
/// the headers some problems carry (a <c>WWW-Authenticate</c> challenge with 401, <c>Retry-After</c> with 503).
/// Titles live here, once, so every endpoint words the same failure the same way.
/// </summary>
public sealed record ApiProblem(int Status, string Type, string Title, string Detail)
{
    /// <summary>The <c>WWW-Authenticate</c> value to send (401 only).</summary>
    public string? Challenge { get; init; }

    /// <summary>Seconds after which to ask again (503 only).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The distribution spec's error code, for answers on <c>/v2/</c> (carried as an <c>errors</c> extension).</summary>
    public string? RegistryCode { get; init; }

    public static ApiProblem Invalid(string detail, string title = "Invalid delta request") =>
        new(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, title, detail);

    public static ApiProblem Unauthorized(string detail, string? challenge) =>
        new(StatusCodes.Status401Unauthorized, ProblemTypes.Unauthorized, "Not authorized", detail) { Challenge = challenge, RegistryCode = "UNAUTHORIZED" };

    public static ApiProblem Forbidden(string detail) =>
        new(StatusCodes.Status403Forbidden, ProblemTypes.Unauthorized, "Access denied", detail) { RegistryCode = "DENIED" };

    public static ApiProblem NotFound(string detail, string registryCode = "NAME_UNKNOWN") =>
        new(StatusCodes.Status404NotFound, ProblemTypes.NotFound, "Image not found", detail) { RegistryCode = registryCode };

    public static ApiProblem NotAcceptable(string detail) =>
        new(StatusCodes.Status406NotAcceptable, ProblemTypes.NotAcceptable, "No delta possible", detail);

    public static ApiProblem Timeout(string detail) =>
        new(StatusCodes.Status408RequestTimeout, ProblemTypes.InvalidRequest, "Request timeout", detail);

    public static ApiProblem UnsupportedMediaType(string detail) =>
        new(StatusCodes.Status415UnsupportedMediaType, ProblemTypes.InvalidRequest, "Unsupported media type", detail);

    public static ApiProblem TooLarge(string detail) =>
        new(StatusCodes.Status413PayloadTooLarge, ProblemTypes.InvalidRequest, "Request too large", detail);

    public static ApiProblem Busy(string detail, int retryAfterSeconds) =>
        new(StatusCodes.Status503ServiceUnavailable, ProblemTypes.Busy, "Server busy", detail) { RetryAfterSeconds = retryAfterSeconds };

    public static ApiProblem NotReady(string detail) =>
        new(StatusCodes.Status503ServiceUnavailable, ProblemTypes.NotReady, "Not ready", detail);

    /// <summary>
    /// The one map from a failure's kind to a problem, for failures no endpoint words itself. The client's own
    /// troubles (its disk, budget, lock) never happen on the server: there they are the server's, so 500.
    /// </summary>
    public static ApiProblem For(FailureKind kind, string detail, int retryAfterSeconds = 1) => kind switch
    {
        FailureKind.Usage => Invalid(detail),
        FailureKind.Unauthorized => Forbidden(detail), // a 401 needs the endpoint's challenge
        FailureKind.NotFound => NotFound(detail),
        FailureKind.Verification or FailureKind.Incompatible => NotAcceptable(detail),
        FailureKind.TooLarge => TooLarge(detail),
        FailureKind.Busy or FailureKind.Timeout => Busy(detail, retryAfterSeconds),
        FailureKind.Cancelled => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a cancelled request gets no answer"),
        _ => new(StatusCodes.Status500InternalServerError, ProblemTypes.Internal, "Internal error", detail),
    };

    /// <summary>The problem as an HTTP answer (problem+json), with its headers.</summary>
    public ProblemHttpResult ToResult(HttpContext http)
    {
        if (Challenge is not null) http.Response.Headers.WWWAuthenticate = Challenge;
        if (RetryAfterSeconds is { } seconds) RetryAfter.Set(http.Response, TimeSpan.FromSeconds(seconds));
        var extensions = RegistryCode is null || !http.Request.Path.StartsWithSegments("/v2")
            ? null
            : new Dictionary<string, object?> { ["errors"] = new[] { new { code = RegistryCode, message = Detail } } };
        return TypedResults.Problem(Detail, statusCode: Status, title: Title, type: Type, extensions: extensions);
    }

    /// <summary>Answers with the problem now: for authentication handlers and the authorization middleware, which write no endpoint result.</summary>
    public Task WriteAsync(HttpContext http) => ToResult(http).ExecuteAsync(http);
}

using System.Net;
using Doras.Oci;
using Doras.Server.Access;
using Doras.Server.Problems;
using Doras.Server.Deltas;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace Doras.Server.Hosting;

/// <summary>
/// The registry behind the server said "not now" (429 rate limit, 502/503/504) after the registry client's own
/// retries: the caller gets 503 problem+json with Retry-After and one warning line, never ASP.NET's generic 500
/// and a stack trace. Whatever endpoint met it (a tag lookup, a manifest, a build's read), the answer is the same.
/// </summary>
public sealed class UpstreamBusyHandler(IOptions<DeltaOptions> options, ILogger<UpstreamBusyHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (Failures.KindOf(exception) != FailureKind.Busy || exception is not HttpRequestException { StatusCode: not null } busy || http.Response.HasStarted)
            return false;
        var seconds = Math.Max(1, options.Value.MaxRetryAfterSeconds);
        logger.LogWarning("{Method} {Path}: the registry answered {Status}; asked the caller to come back in {Seconds} s",
            http.Request.Method, http.Request.Path, (int)busy.StatusCode!, seconds);
        var why = busy.StatusCode == HttpStatusCode.TooManyRequests ? "is rate-limiting this server" : "is not answering for now";
        await ApiProblem.For(FailureKind.Busy, $"the registry {why} ({(int)busy.StatusCode!}); ask again later", seconds).ToResult(http).ExecuteAsync(http);
        return true;
    }
}

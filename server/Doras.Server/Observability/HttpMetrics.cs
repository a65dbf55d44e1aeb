using System.Collections.Frozen;
using System.Diagnostics;

namespace Doras.Server.Observability;

/// <summary>
/// The Go original's <c>http_requests_total</c> and <c>http_request_duration_seconds</c> <c>{code,method,path}</c>,
/// recorded by our own middleware rather than prometheus-net's <c>UseHttpMetrics</c>: that one labels with the
/// request's method as sent, so a caller inventing methods (<c>M000123X</c>) made a new series per request and grew
/// <c>/metrics</c> and the server's memory without bound (with <c>Observability:Token</c> too: the token guards
/// reading the series, not recording them). Every label here comes from a closed set (<see cref="HttpMetricLabels"/>).
/// </summary>
public static class HttpMetrics
{
    private const string RouteKey = "Doras.Route";

    /// <summary>Call after <c>UseRouting</c> and before the exception handler, so every answer is counted as sent (a 500 included).</summary>
    public static void UseDorasHttpMetrics(this IApplicationBuilder app, DorasMetrics metrics)
    {
        app.Use(async (http, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            var escaped = false;
            try
            {
                await next(http).ConfigureAwait(false);
            }
            catch
            {
                escaped = !http.Response.HasStarted; // Kestrel answers it with 500
                throw;
            }
            finally
            {
                var status = escaped ? StatusCodes.Status500InternalServerError : http.Response.StatusCode;
                var labels = HttpMetricLabels.Of(http.Request.Method, http.Items[RouteKey] as string, status);
                metrics.HttpRequests.WithLabels(labels).Inc();
                metrics.HttpRequestDuration.WithLabels(labels).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        });
        // The route as matched, kept for the label: the exception handler clears the endpoint before a 500 is written.
        app.Use((http, next) =>
        {
            if (http.GetEndpoint() is RouteEndpoint route) http.Items[RouteKey] = route.RoutePattern.RawText;
            return next(http);
        });
    }
}

/// <summary>
/// The labels of the HTTP series, each from a closed set so no caller can add series: the method if it is one of
/// the standard seven, else <c>other</c>; the path as the route's template (fixed in the code), else
/// <c>unmatched</c>; the status code if the server is known to send it, else its class (<c>2xx</c> … <c>5xx</c>).
/// </summary>
public static class HttpMetricLabels
{
    public const string Other = "other";
    public const string Unmatched = "unmatched";

    private static readonly FrozenSet<string> Methods =
        new[] { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" }.ToFrozenSet(StringComparer.Ordinal);

    // What the endpoints, routing, Kestrel and the registry pass-through answer; anything else goes to its class.
    private static readonly FrozenDictionary<int, string> Codes =
        new[] { 200, 201, 202, 204, 206, 304, 307, 400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 415, 416, 429, 500, 502, 503, 504 }
            .ToFrozenDictionary(c => c, c => c.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static readonly string[] Classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    public static string[] Of(string method, string? routeTemplate, int status) =>
        [Code(status), Method(method), routeTemplate ?? Unmatched];

    public static string Method(string method) => Methods.TryGetValue(method, out var known) ? known : Other;

    public static string Code(int status) =>
        Codes.TryGetValue(status, out var known) ? known : status is >= 100 and <= 599 ? Classes[status / 100 - 1] : Other;
}

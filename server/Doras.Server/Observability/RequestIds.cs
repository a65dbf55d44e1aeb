using System.Diagnostics;

namespace Doras.Server.Observability;

/// <summary>
/// Gives every request an id that is echoed in the <c>X-Request-Id</c> answer header and carried in a log scope
/// (with the trace id) by every log line written while the request is handled, and by the builds it starts. A
/// caller's own <c>X-Request-Id</c> (a proxy's, say) is kept when it is short and plain; otherwise the server's
/// own request id is used, so a log can never be fed arbitrary text through it.
/// </summary>
public static class RequestIds
{
    public const string Header = "X-Request-Id";
    private const int MaxLength = 128;

    public static IApplicationBuilder UseRequestIds(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Doras.Server.Requests");
        return app.Use(async (http, next) =>
        {
            if (IsPlain(http.Request.Headers[Header].ToString()) is { } given) http.TraceIdentifier = given;
            var id = http.TraceIdentifier;
            // Set as the answer starts: the exception handler clears the headers before it writes a 500.
            http.Response.OnStarting(() =>
            {
                http.Response.Headers[Header] = id;
                return Task.CompletedTask;
            });
            using (logger.BeginScope(new RequestScope(id, Activity.Current?.TraceId.ToString())))
            {
                await next(http).ConfigureAwait(false);
            }
        });
    }

    /// <summary>
    /// The log scope: structured (the JSON formatter writes each pair as a property) and readable as text (the
    /// simple formatter prints a scope's <c>ToString()</c>, which for a dictionary is only its type name).
    /// </summary>
    private sealed class RequestScope(string requestId, string? traceId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("RequestId", requestId),
            1 => new("TraceId", traceId),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public int Count => 2;

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
            yield return this[1];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{requestId} TraceId:{traceId}";
    }

    private static string? IsPlain(string value)
    {
        if (value.Length is 0 or > MaxLength) return null;
        foreach (var c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')) return null;
        return value;
    }
}

using System.Net.Http.Headers;

namespace Doras.Api;

/// <summary>
/// How long a <c>Retry-After</c> header asks a client to wait, read in one place by every client of the API (the
/// edge client polling a delta, a replica asking its primary): seconds or an HTTP date, never negative.
/// </summary>
public static class RetryAfterHeader
{
    /// <returns>The wait, or null when the answer carries no Retry-After.</returns>
    public static TimeSpan? WaitOf(HttpResponseHeaders headers, DateTimeOffset now)
    {
        var wait = headers.RetryAfter?.Delta ?? (headers.RetryAfter?.Date is { } date ? date - now : null);
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }
}

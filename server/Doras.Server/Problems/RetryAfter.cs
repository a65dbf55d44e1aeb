using System.Globalization;

namespace Doras.Server.Problems;

/// <summary>
/// The <c>Retry-After</c> header the server sends (202 while a delta is built, 503 when busy), written in one
/// place: whole seconds, rounded up, so a client never asks again before the time it was given.
/// </summary>
public static class RetryAfter
{
    public static void Set(HttpResponse response, TimeSpan wait) =>
        response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}

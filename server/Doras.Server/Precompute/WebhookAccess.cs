using System.Security.Cryptography;
using System.Text;
using Doras.Server.Access;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>
/// Who may notify the server of pushes: the registry, which sends the shared secret <c>Precompute:WebhookSecret</c>
/// as <c>Authorization: Bearer SECRET</c> (the <c>headers</c> of its notification endpoint). Anything else gets 401
/// before its body is read; with no secret configured, the webhook is off and every notification gets 401.
/// </summary>
public static class WebhookAccess
{
    public const string Challenge = "Bearer realm=\"doras-registry-webhook\"";

    public static ApiProblem? Check(HttpRequest request, PrecomputeOptions options)
    {
        if (string.IsNullOrEmpty(options.WebhookSecret))
            return ApiProblem.Unauthorized("the registry webhook is off: set Precompute:WebhookSecret and send it from the registry as 'Authorization: Bearer SECRET'", Challenge);
        var expected = Encoding.UTF8.GetBytes("Bearer " + options.WebhookSecret);
        var given = Encoding.UTF8.GetBytes(request.Headers.Authorization.ToString());
        return CryptographicOperations.FixedTimeEquals(expected, given)
            ? null
            : ApiProblem.Unauthorized("a registry notification must carry 'Authorization: Bearer SECRET' with the server's Precompute:WebhookSecret", Challenge);
    }

    /// <summary>The endpoint filter the webhook sits behind, so no handler can forget the check.</summary>
    public static async ValueTask<object?> Filter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var options = http.RequestServices.GetRequiredService<IOptions<PrecomputeOptions>>().Value;
        if (Check(http.Request, options) is { } refused) return refused.ToResult(http);
        return await next(context).ConfigureAwait(false);
    }
}

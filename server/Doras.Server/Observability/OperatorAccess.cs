using System.Security.Cryptography;
using System.Text;
using Doras.Server.Access;
using Microsoft.Extensions.Options;

namespace Doras.Server.Observability;

/// <summary>
/// The rule for the operator's endpoints (<c>/metrics</c>, <c>/openapi/v1.json</c>): open unless
/// <c>Observability:Token</c> is set, then only with that bearer token (compared in constant time).
/// </summary>
public static class OperatorAccess
{
    public static async ValueTask<object?> Filter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var token = http.RequestServices.GetRequiredService<IOptions<ObservabilityOptions>>().Value.Token;
        if (!string.IsNullOrEmpty(token) && !Presents(http.Request.Headers.Authorization.ToString(), token))
            return ApiProblem.Unauthorized($"{http.Request.Path} is for the operator: send 'Authorization: Bearer' with the token configured as Observability:Token",
                "Bearer realm=\"doras-operator\"").ToResult(http);
        return await next(context).ConfigureAwait(false);
    }

    private static bool Presents(string header, string token)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim())), SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }
}

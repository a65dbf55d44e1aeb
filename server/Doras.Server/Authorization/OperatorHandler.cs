using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Doras.Server.Authorization;

/// <summary>
/// The operator scheme (<c>/metrics</c>, <c>/openapi/v1.json</c>): everyone is the operator unless
/// <c>Observability:Token</c> is set, then only a caller with that bearer token (compared in constant time).
/// </summary>
public sealed class OperatorHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IOptions<OperatorOptions> observability) : CallerAuthenticationHandler(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = observability.Value.Token;
        return Task.FromResult(string.IsNullOrEmpty(token) || BearerSecret.Matches(Request.Headers.Authorization.ToString(), token) ? Admit() : AuthenticateResult.NoResult());
    }

    protected override Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result) => Task.FromResult(ApiProblem.Unauthorized(
        $"{Request.Path} is for the operator: send 'Authorization: Bearer' with the token configured as Observability:Token", "Bearer realm=\"doras-operator\""));
}

using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Doras.Server.Authorization;

/// <summary>
/// What every caller scheme shares: a principal of the scheme's name, and challenges and refusals answered as
/// the project's problem+json (<see cref="ApiProblem"/>) rather than the framework's empty 401 and 403.
/// </summary>
public abstract class CallerAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>The 401 to answer; <paramref name="result"/> is this request's authentication (its failure may say why).</summary>
    protected abstract Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result);

    protected AuthenticateResult Admit(params Claim[] claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name, ClaimTypes.Name, ClaimTypes.Role)), Scheme.Name));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties) =>
        await (await UnauthorizedAsync(await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false)).ConfigureAwait(false)).WriteAsync(Context).ConfigureAwait(false);

    /// <summary>Only reached when a requirement failed without saying why (each of ours says why: <see cref="Refusals"/>).</summary>
    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiProblem.Forbidden($"this caller may not use {Request.Path}").WriteAsync(Context);
}

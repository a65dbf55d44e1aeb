using System.Text.Encodings.Web;
using Doras.Server.Precompute;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Doras.Server.Authorization;

/// <summary>
/// The registry webhook scheme: the registry sends the shared secret <c>Precompute:WebhookSecret</c> as
/// <c>Authorization: Bearer SECRET</c> (the <c>headers</c> of its notification endpoint), compared in constant time.
/// With no secret configured the webhook is off and every notification is challenged.
/// </summary>
public sealed class RegistryWebhookHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IOptions<PrecomputeOptions> precompute) : CallerAuthenticationHandler(options, logger, encoder)
{
    public const string Challenge = "Bearer realm=\"doras-registry-webhook\"";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var secret = precompute.Value.WebhookSecret;
        if (string.IsNullOrEmpty(secret))
            return Task.FromResult(AuthenticateResult.Fail("the registry webhook is off: set Precompute:WebhookSecret and send it from the registry as 'Authorization: Bearer SECRET'"));
        return Task.FromResult(BearerSecret.Matches(Request.Headers.Authorization.ToString(), secret)
            ? Admit()
            : AuthenticateResult.Fail("a registry notification must carry 'Authorization: Bearer SECRET' with the server's Precompute:WebhookSecret"));
    }

    protected override Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result) =>
        Task.FromResult(ApiProblem.Unauthorized(result.Failure!.Message, Challenge));
}

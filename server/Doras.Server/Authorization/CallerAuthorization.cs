using Doras.Server.Peering;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace Doras.Server.Authorization;

/// <summary>Registers the caller schemes, their policies, and the answer to requests they do not admit.</summary>
public static class CallerAuthorization
{
    public static void AddCallerAuthorization(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, DeviceClientHandler>(CallerSchemes.DeviceClient, null)
            .AddScheme<AuthenticationSchemeOptions, OperatorHandler>(CallerSchemes.Operator, null)
            .AddScheme<AuthenticationSchemeOptions, RegistryWebhookHandler>(CallerSchemes.RegistryWebhook, null)
            .AddScheme<AuthenticationSchemeOptions, PeerCredentialsHandler>(CallerSchemes.PeerCredentials, null)
            .AddScheme<AuthenticationSchemeOptions, PeerTokenSchemeHandler>(CallerSchemes.Peer, null);

        var policies = services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicies.DeviceClient, p => Caller(p, CallerSchemes.DeviceClient).AddRequirements(new ServedImagesRequirement()))
            .AddPolicy(CallerPolicies.Operator, p => Caller(p, CallerSchemes.Operator))
            .AddPolicy(CallerPolicies.RegistryWebhook, p => Caller(p, CallerSchemes.RegistryWebhook))
            .AddPolicy(CallerPolicies.PeerCredentials, p => Caller(p, CallerSchemes.PeerCredentials));
        foreach (var scope in PeerScopes.All)
            policies.AddPolicy(CallerPolicies.Peer(scope), p => Caller(p, CallerSchemes.Peer).AddRequirements(new PeerScopeRequirement(scope)));

        services.AddSingleton<IAuthorizationHandler, ServedImagesHandler>();
        services.AddSingleton<IAuthorizationHandler, PeerScopeHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, RefusalResultHandler>();
    }

    /// <summary>A policy of one caller scheme: a request is authenticated by that scheme alone, and must be.</summary>
    private static AuthorizationPolicyBuilder Caller(AuthorizationPolicyBuilder policy, string scheme) =>
        policy.AddAuthenticationSchemes(scheme).RequireAuthenticatedUser();
}

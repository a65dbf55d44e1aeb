using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace Doras.Server.Authorization;

/// <summary>Registers the caller schemes, their policies, and the answer to requests they do not admit (the peers' are Peering's: <c>PeerAuthorization</c>).</summary>
public static class CallerAuthorization
{
    public static void AddCallerAuthorization(this IServiceCollection services)
    {
        services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.Section);
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, DeviceClientHandler>(CallerSchemes.DeviceClient, null)
            .AddScheme<AuthenticationSchemeOptions, OperatorHandler>(CallerSchemes.Operator, null)
            .AddScheme<AuthenticationSchemeOptions, RegistryWebhookHandler>(CallerSchemes.RegistryWebhook, null);

        services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicies.DeviceClient, p => Caller(p, CallerSchemes.DeviceClient).AddRequirements(new ServedImagesRequirement()))
            .AddPolicy(CallerPolicies.Operator, p => Caller(p, CallerSchemes.Operator))
            .AddPolicy(CallerPolicies.RegistryWebhook, p => Caller(p, CallerSchemes.RegistryWebhook))
            // An endpoint that forgets its policy is closed, not open.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new UndeclaredPolicyRequirement()).Build());

        services.AddSingleton<IAuthorizationHandler, ServedImagesHandler>();
        services.AddSingleton<IAuthorizationHandler, UndeclaredPolicyHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, RefusalResultHandler>();
    }

    /// <summary>A policy of one caller scheme: a request is authenticated by that scheme alone, and must be.</summary>
    public static AuthorizationPolicyBuilder Caller(AuthorizationPolicyBuilder policy, string scheme) =>
        policy.AddAuthenticationSchemes(scheme).RequireAuthenticatedUser();
}

using Doras.Server.Authorization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace Doras.Server.Peering;

/// <summary>The peer schemes and their policies, registered beside the other callers' (<see cref="CallerAuthorization"/>).</summary>
public static class PeerAuthorization
{
    public static void AddPeerAuthorization(this IServiceCollection services)
    {
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, PeerCredentialsHandler>(CallerSchemes.PeerCredentials, null)
            .AddScheme<AuthenticationSchemeOptions, PeerTokenSchemeHandler>(CallerSchemes.Peer, null);
        var policies = services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicies.PeerCredentials, p => CallerAuthorization.Caller(p, CallerSchemes.PeerCredentials));
        foreach (var scope in PeerScopes.All)
            policies.AddPolicy(CallerPolicies.Peer(scope), p => CallerAuthorization.Caller(p, CallerSchemes.Peer).AddRequirements(new PeerScopeRequirement(scope)));
        services.AddSingleton<IAuthorizationHandler, PeerScopeHandler>();
    }
}

using Doras.Server.Authorization;
using Microsoft.AspNetCore.Authorization;

namespace Doras.Server.Peering;

/// <summary>A peer token that carries <see cref="Scope"/>; on an endpoint that reads a repository, a grant of it too.</summary>
public sealed record PeerScopeRequirement(string Scope) : IAuthorizationRequirement;

/// <summary>
/// Admits a peer whose token carries the endpoint's scope, and, where the endpoint reads a repository
/// (<see cref="ReadsPeerRepository"/>), whom that repository was granted (<see cref="PeerGrants.CheckAsync"/>).
/// Refusals are 403 (404 for the server's own state), as problem+json; a request that is no peer's is challenged.
/// </summary>
public sealed class PeerScopeHandler(PeerGrants grants) : AuthorizationHandler<PeerScopeRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, PeerScopeRequirement requirement)
    {
        if (context.Resource is not HttpContext http || PeerClaims.PeerOf(context.User) is not { } peer) return;
        if (!peer.Scopes.Contains(requirement.Scope))
        {
            context.Refuse(this, http, ApiProblem.Forbidden($"the peer token of '{peer.Name}' does not carry the scope '{requirement.Scope}' this request needs"));
            return;
        }
        if (http.GetEndpoint()?.Metadata.GetMetadata<ReadsPeerRepository>()?.RepositoryOf(http) is { } repository
            && await grants.CheckAsync(peer, repository, http.RequestAborted).ConfigureAwait(false) is { } refused)
        {
            context.Refuse(this, http, refused);
            return;
        }
        context.Succeed(requirement);
    }
}

using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;

namespace Doras.Server.Authorization;

/// <summary>
/// The fallback policy: an endpoint that declares no caller policy (and is not explicitly anonymous) is refused
/// with 403, so one that forgets is closed rather than open. A request no route matched passes (its 404 or 405 follows).
/// </summary>
public sealed class UndeclaredPolicyRequirement : IAuthorizationRequirement;

public sealed class UndeclaredPolicyHandler : AuthorizationHandler<UndeclaredPolicyRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, UndeclaredPolicyRequirement requirement)
    {
        if (context.Resource is not HttpContext http) return Task.CompletedTask;
        if (http.GetEndpoint() is not RouteEndpoint) // none, or routing's own 405
            context.Succeed(requirement);
        else
            context.Refuse(this, http, ApiProblem.Forbidden($"{http.Request.Path} declares no caller policy, so no caller may use it"));
        return Task.CompletedTask;
    }
}

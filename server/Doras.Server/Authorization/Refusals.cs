using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace Doras.Server.Authorization;

/// <summary>The problem a requirement refused a request with (403, or 404 for what is never served), kept for the answer.</summary>
public sealed record Refusal(ApiProblem Problem);

public static class Refusals
{
    /// <summary>
    /// Fails the requirement and keeps the problem as a request feature: the framework drops the failure reasons of
    /// an unauthenticated request, yet a refusal (e.g. 404 for the server's own state) must win over its 401.
    /// The first refusal of a request is the one answered.
    /// </summary>
    public static void Refuse(this AuthorizationHandlerContext context, IAuthorizationHandler handler, HttpContext http, ApiProblem problem)
    {
        if (http.Features.Get<Refusal>() is null) http.Features.Set(new Refusal(problem));
        context.Fail(new AuthorizationFailureReason(handler, problem.Detail));
    }
}

/// <summary>
/// Answers a request the authorization middleware did not admit: with the requirement's refusal when one was kept,
/// otherwise as the framework does (challenge or forbid the policy's scheme, whose handler writes the problem).
/// </summary>
public sealed class RefusalResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _framework = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult) =>
        !authorizeResult.Succeeded && context.Features.Get<Refusal>() is { } refusal
            ? refusal.Problem.WriteAsync(context)
            : _framework.HandleAsync(next, context, policy, authorizeResult);
}

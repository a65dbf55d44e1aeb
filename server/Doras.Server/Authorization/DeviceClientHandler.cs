using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Doras.Server.Access;
using Doras.Server.Stores;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace Doras.Server.Authorization;

/// <summary>
/// The device client scheme, the one rule for who may read which images (README: Security model):
/// <list type="bullet">
/// <item>Embedded store, or registry mode with <c>Registry:RequireClientAuth</c> false: anyone who reaches the
/// server is admitted and reads everything it serves (the operator's choice; put it behind a proxy that authenticates).</item>
/// <item>Registry mode with <c>Registry:RequireClientAuth</c> (the default): a request without an Authorization header
/// is challenged (401 with the registry's own challenge, before any body is read or any image looked up); one with
/// a header is admitted to read images with exactly that authorization, so the registry decides. Nothing here calls
/// the registry for the request's images.</item>
/// </list>
/// The admitted <see cref="Caller"/> (its authorization, and the store as it sees it) is a request feature, which
/// endpoints bind as a parameter.
/// </summary>
public sealed class DeviceClientHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ArtifactStores stores, RegistryChallenge challenge) : CallerAuthenticationHandler(options, logger, encoder)
{
    /// <summary>How the caller reads images: <c>registry-authorization</c> (its own) or <c>server</c> (the server's access).</summary>
    public const string ReadsAs = "doras:reads-as";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!stores.RequireClientAuth)
        {
            Context.Features.Set(new Caller(null, stores.Server));
            return Task.FromResult(Admit(new Claim(ReadsAs, "server")));
        }
        if (!AuthenticationHeaderValue.TryParse(Request.Headers.Authorization.ToString(), out var authorization) || string.IsNullOrEmpty(authorization.Parameter))
            return Task.FromResult(AuthenticateResult.NoResult());
        var client = stores.ForClient(authorization);
        if (client is IDisposable disposable) Response.RegisterForDispose(disposable);
        Context.Features.Set(new Caller(authorization, client));
        return Task.FromResult(Admit(new Claim(ReadsAs, "registry-authorization"), new Claim(ClaimTypes.AuthenticationMethod, authorization.Scheme)));
    }

    protected override async Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result)
    {
        var www = await challenge.ForRepositoryAsync(ClientAccess.RepositoryNamedBy(Request), Context.RequestAborted).ConfigureAwait(false);
        // A registry that asks no login gives devices nothing to send: say so, and what the operator should set.
        if (await challenge.MisconfigurationAsync(Context.RequestAborted).ConfigureAwait(false) is { } misconfigured)
            return ApiProblem.Unauthorized(misconfigured, www);
        return ApiProblem.Unauthorized(
            $"this server reads images from {stores.RegistryHost} with the client's own authorization (Registry:RequireClientAuth): send the registry credentials or token in the Authorization header", www);
    }
}

/// <summary>The images a device client reads are the served ones: never the server's own working state.</summary>
public sealed class ServedImagesRequirement : IAuthorizationRequirement;

/// <summary>
/// Refuses, as 404, a request that names the server's private repository anywhere (<see cref="ClientAccess.PrivateRepositoryNamedBy"/>),
/// whether or not the caller is authenticated: the refusal wins over a 401, as nothing of that repository is served.
/// </summary>
public sealed class ServedImagesHandler(ClientAccess access) : AuthorizationHandler<ServedImagesRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ServedImagesRequirement requirement)
    {
        if (context.Resource is not HttpContext http) return Task.CompletedTask;
        if (access.PrivateRepositoryNamedBy(http.Request) is { } own)
            context.Refuse(this, http, ApiProblem.NotFound($"repository {own} is not served here"));
        else
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

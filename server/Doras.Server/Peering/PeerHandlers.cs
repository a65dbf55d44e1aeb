using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Doras.Server.Access;
using Doras.Server.Authorization;
using Doras.Server.Stores;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>A peer's principal: its name and the scopes it holds (claims of either peer scheme).</summary>
public static class PeerClaims
{
    public const string Scope = "scope";

    public static Claim[] Of(string name, IEnumerable<string> scopes) => [new(ClaimTypes.Name, name), .. scopes.Select(s => new Claim(Scope, s))];

    /// <summary>The peer a peer scheme admitted, or null when the principal is none of theirs.</summary>
    public static PeerIdentity? PeerOf(ClaimsPrincipal user) =>
        user.Identities.FirstOrDefault(i => i.IsAuthenticated && i.AuthenticationType is CallerSchemes.Peer or CallerSchemes.PeerCredentials) is { Name: { } name } identity
            ? new PeerIdentity(name, identity.FindAll(Scope).Select(c => c.Value).ToHashSet(StringComparer.Ordinal))
            : null;

    /// <summary>The admitted peer, for an endpoint behind a peer policy.</summary>
    public static PeerIdentity RequirePeer(this ClaimsPrincipal user) =>
        PeerOf(user) ?? throw new InvalidOperationException("this endpoint is not behind a peer policy");
}

/// <summary>
/// The peer credentials scheme, for the token endpoint only: a trusted peer's HTTP Basic credentials. The
/// <see cref="TrustedPeerOptions"/> it admitted is a request feature (the token is issued for it).
/// </summary>
public sealed class PeerCredentialsHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, PeerTokens tokens)
    : CallerAuthenticationHandler(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        _ = AuthenticationHeaderValue.TryParse(Request.Headers.Authorization.ToString(), out var authorization);
        if (authorization is not { Scheme: "Basic", Parameter: { Length: > 0 } basic } || DecodeBasic(basic) is not var (user, password)
            || tokens.Authenticate(user, password) is not { } trusted)
            return Task.FromResult(AuthenticateResult.NoResult());
        Context.Features.Set(trusted);
        return Task.FromResult(Admit(PeerClaims.Of(trusted.Username, trusted.AllowedScopes)));
    }

    protected override Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result) => Task.FromResult(ApiProblem.Unauthorized(
        "the peer API needs the credentials of a trusted peer (HTTP Basic) to issue a token", "Basic realm=\"doras-peer\""));

    private static (string User, string Password)? DecodeBasic(string parameter)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
            var colon = text.IndexOf(':');
            return colon <= 0 ? null : (text[..colon], text[(colon + 1)..]);
        }
        catch (FormatException) { return null; }
    }
}

/// <summary>
/// The peer scheme, for every other peer endpoint: a peer token (<see cref="PeerTokens"/>, Bearer). An admitted peer
/// reads images with the server's own access (its grants are checked by <see cref="PeerScopeHandler"/>), so its
/// <see cref="Caller"/> is the server's store.
/// </summary>
public sealed class PeerTokenSchemeHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, PeerTokens tokens, ArtifactStores stores)
    : CallerAuthenticationHandler(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        _ = AuthenticationHeaderValue.TryParse(Request.Headers.Authorization.ToString(), out var authorization);
        if (authorization is not { Scheme: "Bearer", Parameter: { Length: > 0 } token }) return AuthenticateResult.NoResult();
        var (peer, refusal) = await tokens.ValidateAsync(token).ConfigureAwait(false);
        if (peer is null) return AuthenticateResult.Fail(refusal!);
        Context.Features.Set(new Caller(null, stores.Server));
        return Admit(PeerClaims.Of(peer.Name, peer.Scopes));
    }

    protected override Task<ApiProblem> UnauthorizedAsync(AuthenticateResult result) => Task.FromResult(ApiProblem.Unauthorized(
        result.Failure?.Message ?? "the peer API needs a peer token (Authorization: Bearer), from POST " + PeerApi.Prefix + "/token",
        $"Bearer realm=\"{Request.Scheme}://{Request.Host}{PeerApi.Prefix}/token\""));
}

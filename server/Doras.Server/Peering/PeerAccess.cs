using System.Net.Http.Headers;
using System.Text;
using Doras.Server.Access;

namespace Doras.Server.Peering;

/// <summary>Endpoint metadata: this endpoint is where peers trade their credentials (HTTP Basic) for a token.</summary>
public sealed record IssuesPeerTokens;

/// <summary>
/// The one rule of the peer API (<c>/peer/v1/…</c>), applied to the whole route group: the token endpoint admits
/// a trusted peer's Basic credentials; every other endpoint admits a peer token (<see cref="PeerTokens"/>) that
/// carries the scope the endpoint names (<see cref="RequiresPeerScope"/>); an endpoint that names none admits
/// nobody; an endpoint that reads a repository (<see cref="ReadsPeerRepository"/>) admits only a peer granted that
/// repository (<see cref="PeerGrants.CheckAsync"/>). Anything else is 401 (with a challenge), 403 or 404, as
/// problem+json, before the handler runs.
/// </summary>
public sealed class PeerAccess(PeerTokens tokens, PeerGrants grants)
{
    private const string PeerKey = "Doras.Peer";
    private const string TrustedKey = "Doras.TrustedPeer";

    public static async ValueTask<object?> Filter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var problem = await http.RequestServices.GetRequiredService<PeerAccess>().AdmitAsync(http).ConfigureAwait(false);
        return problem is null ? await next(context).ConfigureAwait(false) : problem.ToResult(http);
    }

    /// <summary>The peer admitted for this request.</summary>
    public static PeerIdentity PeerOf(HttpContext http) =>
        http.Items[PeerKey] as PeerIdentity ?? throw new InvalidOperationException($"{http.Request.Path} is not behind {nameof(PeerAccess)}.{nameof(Filter)}");

    /// <summary>The trusted peer whose credentials the token endpoint admitted.</summary>
    public static TrustedPeerOptions TrustedPeerOf(HttpContext http) =>
        http.Items[TrustedKey] as TrustedPeerOptions ?? throw new InvalidOperationException($"{http.Request.Path} is not the token endpoint");

    private async Task<ApiProblem?> AdmitAsync(HttpContext http)
    {
        var metadata = http.GetEndpoint()?.Metadata;
        _ = AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization.ToString(), out var authorization);
        if (metadata?.GetMetadata<IssuesPeerTokens>() is not null)
        {
            if (authorization is not { Scheme: "Basic", Parameter: { Length: > 0 } basic } || DecodeBasic(basic) is not var (user, password)
                || tokens.Authenticate(user, password) is not { } trusted)
                return ApiProblem.Unauthorized("the peer API needs the credentials of a trusted peer (HTTP Basic) to issue a token", "Basic realm=\"doras-peer\"");
            http.Items[TrustedKey] = trusted;
            http.Items[PeerKey] = new PeerIdentity(trusted.Username, trusted.AllowedScopes.ToHashSet(StringComparer.Ordinal));
            return null;
        }

        var challenge = $"Bearer realm=\"{http.Request.Scheme}://{http.Request.Host}{PeerApi.Prefix}/token\"";
        if (authorization is not { Scheme: "Bearer", Parameter: { Length: > 0 } token })
            return ApiProblem.Unauthorized("the peer API needs a peer token (Authorization: Bearer), from POST " + PeerApi.Prefix + "/token", challenge);
        var (peer, refusal) = await tokens.ValidateAsync(token).ConfigureAwait(false);
        if (peer is null) return ApiProblem.Unauthorized(refusal!, challenge);
        var scope = metadata?.GetMetadata<RequiresPeerScope>()?.Scope;
        if (scope is null) return ApiProblem.Forbidden($"{http.Request.Path} admits no peer token");
        if (!peer.Scopes.Contains(scope)) return ApiProblem.Forbidden($"the peer token of '{peer.Name}' does not carry the scope '{scope}' this request needs");
        if (metadata!.GetMetadata<ReadsPeerRepository>()?.RepositoryOf(http) is { } repository
            && await grants.CheckAsync(peer, repository, http.RequestAborted).ConfigureAwait(false) is { } refused)
            return refused;
        http.Items[PeerKey] = peer;
        return null;
    }

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

using System.Security.Claims;
using System.Text.Json;
using Doras.Api;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Authorization;
using Doras.Server.Deltas;
using Doras.Server.Endpoints;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Doras.Server.Peering;

/// <summary>
/// The peer API under <c>/peer/v1</c>: tokens, sublease tokens, replica registration with the repository's
/// configuration, sync, deltas, the repositories' manifests and blobs (<c>/peer/v1/v2/…</c>), and pull delegation.
/// The token endpoint requires a trusted peer's credentials (<see cref="CallerPolicies.PeerCredentials"/>); every other
/// route requires a peer token with the scope it names (<see cref="CallerPolicies.Peer"/>), and a grant of the
/// repository where it reads one (<see cref="ReadsPeerRepository"/>).
/// </summary>
public static class PeerEndpoints
{
    public static void MapPeerEndpoints(this IEndpointRouteBuilder app)
    {
        var peer = app.MapGroup(PeerApi.Prefix);
        // Every operation of the API document needs a unique id: the peer routes are named from method and route.
        ((IEndpointConventionBuilder)peer).Add(endpoint =>
        {
            if (endpoint.Metadata.OfType<IEndpointNameMetadata>().Any() || endpoint is not RouteEndpointBuilder route) return;
            var method = endpoint.Metadata.OfType<IHttpMethodMetadata>().FirstOrDefault()?.HttpMethods.FirstOrDefault() ?? "ANY";
            var words = (route.RoutePattern.RawText ?? "").Split('/', '-', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..]);
            endpoint.Metadata.Add(new EndpointNameMetadata("Peer" + char.ToUpperInvariant(method[0]) + method[1..].ToLowerInvariant() + string.Concat(words)));
        });

        peer.MapPost(PeerApi.Token, Results<JsonHttpResult<TokenAnswer>, ProblemHttpResult> (HttpContext http, PeerTokens tokens,
            [FromQuery(Name = "scope"), System.ComponentModel.Description("The scopes asked for, space-separated or repeated; all the peer may have when none")] string[]? scope) =>
        {
            var trusted = http.Features.GetRequiredFeature<TrustedPeerOptions>(); // set by the PeerCredentials scheme
            var asked = (scope ?? []).SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
            if (asked.Except(trusted.AllowedScopes).FirstOrDefault() is { } refused)
                return ApiProblem.Forbidden($"peer '{trusted.Username}' may not have the scope '{refused}'").ToResult(http);
            var (token, lifetime) = tokens.Issue(trusted, asked.Count == 0 ? trusted.AllowedScopes : asked);
            return TypedResults.Json(new TokenAnswer(token, (int)Math.Max(1, lifetime.TotalSeconds)), PeerApi.Json);
        }).RequireAuthorization(CallerPolicies.PeerCredentials);

        peer.MapPost(PeerApi.Subleases, async Task<Results<JsonHttpResult<SubleaseAnswer>, ProblemHttpResult>> (HttpContext http, ClaimsPrincipal user, [FromQuery] string repository, Subleases subleases, CancellationToken ct) =>
        {
            var (sublease, problem) = await subleases.IssueAsync(repository, user.RequirePeer().Name, ct);
            return problem is not null ? problem.ToResult(http) : TypedResults.Json(sublease!, PeerApi.Json);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.Sublease));

        peer.MapPost(PeerApi.Replicas, async Task<Results<JsonHttpResult<RepositoryConfiguration>, ProblemHttpResult>> (HttpContext http, ClaimsPrincipal user, [FromQuery] string repository, Subleases subleases, PrimaryRepositories primary, PeerGrants grants, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<ReplicaRequest>(http, ct);
            if (invalid is not null) return invalid.ToResult(http);
            var asking = user.RequirePeer().Name;
            // The token first: without one, a peer learns nothing of the repository (not even whether it exists).
            if (await subleases.ConsumeAsync(repository, request!.Sublease, asking, ct) is { } refused) return refused.ToResult(http);
            var (configuration, problem) = await primary.ConfigurationAsync(repository, ct);
            if (problem is not null) return problem.ToResult(http);
            // From now on (and only now) this peer may read the repository: its configuration, state, content and deltas.
            await grants.GrantAsync(asking, repository, ct);
            return TypedResults.Json(configuration!, PeerApi.Json);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.Replicate));

        peer.MapGet(PeerApi.Configuration, async Task<Results<JsonHttpResult<RepositoryConfiguration>, ProblemHttpResult>> (HttpContext http, [FromQuery] string repository, PrimaryRepositories primary, CancellationToken ct) =>
        {
            var (configuration, problem) = await primary.ConfigurationAsync(repository, ct);
            return problem is not null ? problem.ToResult(http) : TypedResults.Json(configuration!, PeerApi.Json);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.Replicate)).WithMetadata(ByQuery);

        peer.MapPost(PeerApi.Sync, async Task<Results<JsonHttpResult<SyncAnswer>, ProblemHttpResult>> (HttpContext http, [FromQuery] string repository, PrimaryRepositories primary, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<SyncRequest>(http, ct);
            if (invalid is not null) return invalid.ToResult(http);
            var (answer, problem) = await primary.CompareAsync(repository, request! with { Tags = request.Tags ?? new Dictionary<string, string>() }, ct);
            return problem is not null ? problem.ToResult(http) : TypedResults.Json(answer!, PeerApi.Json);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.Replicate)).WithMetadata(ByQuery);

        // A replica asks for a delta it lacks: answered as the delta API answers, reading as the server.
        peer.MapGet(PeerApi.Delta, async Task<Results<Ok<DeltaResponse>, Accepted<DeltaResponse>, ProblemHttpResult>> (
            [AsParameters] DeltaParameters parameters, Caller caller, HttpContext http, DeltaService deltas, CancellationToken ct) =>
        {
            var (query, invalid) = parameters.ToQuery();
            return invalid is not null ? invalid.ToResult(http) : DeltaResults.Of(http, await deltas.RequestAsync(caller, query!, ct));
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.Replicate)).WithMetadata(new ReadsPeerRepository(http =>
            // The repository the delta service reads: that of from_digest (it refuses a to image in another one).
            http.RequestServices.GetRequiredService<ClientAccess>().ParseImage(http.Request.Query[DeltaApi.FromDigest].FirstOrDefault() ?? "", DeltaApi.FromDigest).Image?.Repository));

        // The repositories' manifests and blobs, as the distribution API serves them, read with the server's own access
        // (the peer's grant of the repository is checked by PeerScopeHandler, with the path parsed as the handler parses it).
        var content = peer.MapGroup("").RequireAuthorization(CallerPolicies.Peer(PeerScopes.Replicate))
            .WithMetadata(new ReadsPeerRepository(http => RegistryEndpoints.RepositoryOf(http.GetRouteValue("path") as string)));
        content.MapRegistryEndpoints(namePrefix: "Peer");

        peer.MapPost(PeerApi.DelegatedManifest, async (HttpContext http, ClaimsPrincipal user, DelegatedPulls pulls, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<DelegatedPullRequest>(http, ct);
            return invalid?.ToResult(http) ?? await pulls.ManifestAsync(http, user.RequirePeer(), request!, ct);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.DelegatePull));

        peer.MapPost(PeerApi.DelegatedBlob, async (HttpContext http, ClaimsPrincipal user, DelegatedPulls pulls, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<DelegatedPullRequest>(http, ct);
            return invalid?.ToResult(http) ?? await pulls.BlobAsync(http, user.RequirePeer(), request!, ct);
        }).RequireAuthorization(CallerPolicies.Peer(PeerScopes.DelegatePull));
    }

    /// <summary>The repository named by <c>?repository=</c>, read as the endpoints' <c>string repository</c> parameter is bound.</summary>
    private static readonly ReadsPeerRepository ByQuery = new(http => http.Request.Query["repository"] is { Count: > 0 } values ? values.ToString() : null);

    /// <summary>A JSON body of at most <see cref="PeerApi.MaxJsonBytes"/>, or a 400/413 saying what is wrong with it.</summary>
    private static async Task<(T? Value, ApiProblem? Problem)> ReadJsonAsync<T>(HttpContext http, CancellationToken ct) where T : class
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = PeerApi.MaxJsonBytes;
        if (http.Request.ContentLength > PeerApi.MaxJsonBytes) return (null, ApiProblem.TooLarge($"peer requests are at most {PeerApi.MaxJsonBytes} bytes"));
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(http.Request.Body, PeerApi.Json, ct);
            return value is null ? (null, PeerProblems.Invalid("the request body is empty; send JSON")) : (value, null);
        }
        catch (JsonException e) { return (null, PeerProblems.Invalid($"the request body is not the expected JSON: {e.Message}")); }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, ApiProblem.TooLarge($"peer requests are at most {PeerApi.MaxJsonBytes} bytes"));
        }
    }
}

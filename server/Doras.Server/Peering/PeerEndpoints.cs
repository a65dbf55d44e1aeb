using System.Text.Json;
using Doras.Api;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Deltas;
using Doras.Server.Endpoints;
using Doras.Server.Hosting;
using Microsoft.AspNetCore.Http.Features;

namespace Doras.Server.Peering;

/// <summary>
/// The peer API under <c>/peer/v1</c>: tokens, sublease tokens, replica registration with the repository's
/// configuration, sync, deltas, the repositories' manifests and blobs (<c>/peer/v1/v2/…</c>), and pull delegation.
/// Every route sits behind <see cref="PeerAccess.Filter"/>, and each names the scope it needs.
/// </summary>
public static class PeerEndpoints
{
    public static void MapPeerEndpoints(this IEndpointRouteBuilder app)
    {
        var peer = app.MapGroup(PeerApi.Prefix).AddEndpointFilter(PeerAccess.Filter);
        // Every operation of the API document needs a unique id: the peer routes are named from method and route.
        ((IEndpointConventionBuilder)peer).Add(endpoint =>
        {
            if (endpoint.Metadata.OfType<IEndpointNameMetadata>().Any() || endpoint is not RouteEndpointBuilder route) return;
            var method = endpoint.Metadata.OfType<IHttpMethodMetadata>().FirstOrDefault()?.HttpMethods.FirstOrDefault() ?? "ANY";
            var words = (route.RoutePattern.RawText ?? "").Split('/', '-', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..]);
            endpoint.Metadata.Add(new EndpointNameMetadata("Peer" + char.ToUpperInvariant(method[0]) + method[1..].ToLowerInvariant() + string.Concat(words)));
        });

        peer.MapPost(PeerApi.Token, (HttpContext http, PeerTokens tokens) =>
        {
            var trusted = PeerAccess.TrustedPeerOf(http);
            var asked = http.Request.Query["scope"].SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
            if (asked.Except(trusted.AllowedScopes).FirstOrDefault() is { } refused)
                return ApiProblem.Forbidden($"peer '{trusted.Username}' may not have the scope '{refused}'").ToResult(http);
            var (token, lifetime) = tokens.Issue(trusted, asked.Count == 0 ? trusted.AllowedScopes : asked);
            return Results.Json(new TokenAnswer(token, (int)Math.Max(1, lifetime.TotalSeconds)), PeerApi.Json);
        }).WithMetadata(new IssuesPeerTokens());

        peer.MapPost(PeerApi.Subleases, async (HttpContext http, string repository, Subleases subleases, CancellationToken ct) =>
        {
            var (sublease, problem) = await subleases.IssueAsync(repository, PeerAccess.PeerOf(http).Name, ct);
            return problem?.ToResult(http) ?? Results.Json(sublease, PeerApi.Json);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.Sublease));

        peer.MapPost(PeerApi.Replicas, async (HttpContext http, string repository, Subleases subleases, PrimaryRepositories primary, PeerGrants grants, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<ReplicaRequest>(http, ct);
            if (invalid is not null) return invalid.ToResult(http);
            var asking = PeerAccess.PeerOf(http).Name;
            // The token first: without one, a peer learns nothing of the repository (not even whether it exists).
            if (await subleases.ConsumeAsync(repository, request!.Sublease, asking, ct) is { } refused) return refused.ToResult(http);
            var (configuration, problem) = await primary.ConfigurationAsync(repository, ct);
            if (problem is not null) return problem.ToResult(http);
            // From now on (and only now) this peer may read the repository: its configuration, state, content and deltas.
            await grants.GrantAsync(asking, repository, ct);
            return Results.Json(configuration, PeerApi.Json);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.Replicate));

        peer.MapGet(PeerApi.Configuration, async (HttpContext http, string repository, PrimaryRepositories primary, CancellationToken ct) =>
        {
            var (configuration, problem) = await primary.ConfigurationAsync(repository, ct);
            return problem?.ToResult(http) ?? Results.Json(configuration, PeerApi.Json);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.Replicate), ByQuery);

        peer.MapPost(PeerApi.Sync, async (HttpContext http, string repository, PrimaryRepositories primary, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<SyncRequest>(http, ct);
            if (invalid is not null) return invalid.ToResult(http);
            var (answer, problem) = await primary.CompareAsync(repository, request! with { Tags = request.Tags ?? new Dictionary<string, string>() }, ct);
            return problem?.ToResult(http) ?? Results.Json(answer, PeerApi.Json);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.Replicate), ByQuery);

        // A replica asks for a delta it lacks: answered as the delta API answers, reading as the server.
        peer.MapGet(PeerApi.Delta, async (HttpContext http, DeltaService deltas, ArtifactStores stores, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            var query = new DeltaQuery(q[DeltaApi.FromDigest].FirstOrDefault(), q[DeltaApi.ToDigest].FirstOrDefault(), q[DeltaApi.ToTag].FirstOrDefault(),
                q[DeltaApi.AcceptedAlgorithm].Where(a => !string.IsNullOrEmpty(a)).Select(a => a!).ToList());
            switch (await deltas.RequestAsync(new Caller(null, stores.Server), query, ct))
            {
                case DeltaOutcome.Ready r: return Results.Json(r.Response);
                case DeltaOutcome.UpToDate u: return Results.Json(u.Response);
                case DeltaOutcome.Pending p:
                    http.Response.Headers.RetryAfter = ((int)Math.Ceiling(p.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    return Results.Json(p.Response, statusCode: StatusCodes.Status202Accepted);
                case DeltaOutcome.Problem p: return p.Details.ToResult(http);
                case var other: throw new InvalidOperationException($"unhandled outcome {other}");
            }
        }).WithMetadata(new RequiresPeerScope(PeerScopes.Replicate), new ReadsPeerRepository(http =>
            // The repository the delta service reads: that of from_digest (it refuses a to image in another one).
            http.RequestServices.GetRequiredService<ClientAccess>().ParseImage(http.Request.Query[DeltaApi.FromDigest].FirstOrDefault() ?? "", DeltaApi.FromDigest).Image?.Repository));

        // The repositories' manifests and blobs, as the distribution API serves them, read with the server's own access
        // (the peer's grant of the repository was checked by PeerAccess, with the path parsed as the handler parses it).
        var content = peer.MapGroup("").WithMetadata(new RequiresPeerScope(PeerScopes.Replicate),
            new ReadsPeerRepository(http => RegistryEndpoints.RepositoryOf(http.GetRouteValue("path") as string)));
        content.AddEndpointFilter(async (context, next) =>
        {
            ClientAccess.Admit(context.HttpContext, new Caller(null, context.HttpContext.RequestServices.GetRequiredService<ArtifactStores>().Server));
            return await next(context);
        });
        content.MapRegistryEndpoints(namePrefix: "Peer");

        peer.MapPost(PeerApi.DelegatedManifest, async (HttpContext http, DelegatedPulls pulls, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<DelegatedPullRequest>(http, ct);
            return invalid?.ToResult(http) ?? await pulls.ManifestAsync(http, PeerAccess.PeerOf(http), request!, ct);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.DelegatePull));

        peer.MapPost(PeerApi.DelegatedBlob, async (HttpContext http, DelegatedPulls pulls, CancellationToken ct) =>
        {
            var (request, invalid) = await ReadJsonAsync<DelegatedPullRequest>(http, ct);
            return invalid?.ToResult(http) ?? await pulls.BlobAsync(http, PeerAccess.PeerOf(http), request!, ct);
        }).WithMetadata(new RequiresPeerScope(PeerScopes.DelegatePull));
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

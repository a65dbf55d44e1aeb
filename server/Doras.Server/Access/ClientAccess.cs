using System.Net;
using System.Net.Http.Headers;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Stores;

namespace Doras.Server.Access;

/// <summary>Who is asking, as their authentication scheme admitted them, and the images as they may see them.</summary>
/// <param name="Authorization">The caller's own Authorization header, if any.</param>
/// <param name="Images">
/// The store as this caller sees it: in registry mode with client authorization required, every read goes to the
/// registry with the caller's authorization, never the server's credentials.
/// </param>
public sealed record Caller(AuthenticationHeaderValue? Authorization, IOciStore Images)
{
    /// <summary>
    /// Binds an endpoint's <c>Caller</c> parameter to the request feature its scheme set (device client or peer), so
    /// a handler cannot read images as anyone else; an endpoint without such a scheme fails loudly.
    /// </summary>
    public static ValueTask<Caller?> BindAsync(HttpContext http) => ValueTask.FromResult<Caller?>(http.Features.Get<Caller>()
        ?? throw new InvalidOperationException($"endpoint {http.Request.Path} reads images but no caller scheme admitted a caller"));
}

/// <summary>An image named by a caller, resolved as that caller: its descriptor, or why not.</summary>
public sealed record Resolution(Reference Image, Descriptor? Descriptor, ApiProblem? Problem);

/// <summary>
/// Reading images as a caller (admitted by the device client scheme): parsing the images it
/// names, resolving them with its own access, and passing on the registry's 401 or 403 when the registry refuses
/// it. The server's credentials serve only to build and store deltas, after the caller has read both versions.
/// </summary>
public sealed class ClientAccess(ArtifactStores stores, RegistryChallenge challenge, IEnumerable<IPrivateRepositories> privateRepositories)
{
    /// <summary>
    /// The server's own working state (the peering state repository: peers, grants, sublease records) is never an
    /// image a client may read, whatever the store lets the server read.
    /// </summary>
    public bool IsServerPrivate(string repository) => privateRepositories.Any(p => p.IsPrivate(repository));

    /// <summary>
    /// Parses an image reference a caller gave, and checks that this server serves its registry. <paramref name="parameter"/>
    /// names where it came from, for the message.
    /// </summary>
    public (Reference? Image, ApiProblem? Problem) ParseImage(string text, string parameter)
    {
        Reference image;
        try { image = Reference.Parse(text); }
        catch (FormatException e) { return (null, ApiProblem.Invalid($"'{parameter}': {e.Message}")); }
        if (stores.CheckRegistry(image) is { } wrongRegistry) return (null, ApiProblem.Invalid(wrongRegistry));
        return (image, null);
    }

    /// <summary>Resolves an image as the caller: 404 when it does not exist, the registry's 401 or 403 when the caller may not read it.</summary>
    public async Task<Resolution> ResolveAsync(Caller caller, Reference image, string role, CancellationToken ct)
    {
        try
        {
            var descriptor = await caller.Images.Repository(image.Repository).TryResolveAsync(image.Identifier, ct).ConfigureAwait(false);
            return descriptor is null
                ? new Resolution(image, null, ApiProblem.NotFound($"the {role} image {image} does not exist", "MANIFEST_UNKNOWN"))
                : new Resolution(image, descriptor, null);
        }
        catch (HttpRequestException e) when (RefusalOf(e, image.Repository) is { } refusal)
        {
            return new Resolution(image, null, await refusal.ConfigureAwait(false));
        }
    }

    /// <summary>
    /// The problem to answer when the registry refused one of the caller's reads (401 with a challenge, or 403);
    /// null for any other failure, which is the server's own. Only the registry's answers (HTTP) are the caller's refusal:
    /// a file the server may not open is of the same kind but the server's trouble.
    /// </summary>
    public Task<ApiProblem>? RefusalOf(HttpRequestException e, string repository) => Failures.KindOf(e) is not FailureKind.Unauthorized ? null
        : e.StatusCode == HttpStatusCode.Forbidden
            ? Task.FromResult(ApiProblem.Forbidden(
                $"the registry refused to show {stores.Name(repository)} to this client (403 Forbidden): its authorization does not allow pulling from that repository"))
            : UnauthorizedAsync(repository);

    /// <summary>
    /// The registry's refusal of the caller's authorization at <c>GET /v2/</c>, or null when it accepts it. The ping
    /// reads nothing, so it asks the registry's own ping with that authorization: a header alone admits no one.
    /// </summary>
    public async Task<ApiProblem?> PingRefusalAsync(Caller caller, CancellationToken ct)
    {
        // No authorization of its own: the caller reads with the server's access (no registry, or RequireClientAuth off).
        // The caller's own view of the registry can be asked whether it works (a registry's probe is its /v2/ ping).
        if (caller.Authorization is null || caller.Images is not IStoreProbe probe) return null;
        try
        {
            await probe.ProbeAsync(ct).ConfigureAwait(false);
            return null;
        }
        catch (HttpRequestException e) when (Failures.KindOf(e) is FailureKind.Unauthorized)
        {
            var status = $"{(int)e.StatusCode!} {e.StatusCode}";
            return e.StatusCode == HttpStatusCode.Forbidden
                ? ApiProblem.Forbidden($"the registry refused this client's authorization ({status})")
                : ApiProblem.Unauthorized($"the registry refused this client's authorization ({status}): send credentials or a token it accepts",
                    await challenge.ForRepositoryAsync(null, ct).ConfigureAwait(false));
        }
    }

    private async Task<ApiProblem> UnauthorizedAsync(string repository) =>
        ApiProblem.Unauthorized(
            $"the registry refused to show {stores.Name(repository)} to this client (401 Unauthorized): send credentials or a token that may pull from that repository",
            await challenge.ForRepositoryAsync(repository, CancellationToken.None).ConfigureAwait(false));

    /// <summary>
    /// The server's private repository when the request names it anywhere: in its /v2 path, or in any value of its
    /// image parameters (each of them, however often given: a handler may read a value the challenge parser skips).
    /// </summary>
    public string? PrivateRepositoryNamedBy(HttpRequest request)
    {
        if (RepositoryNamedBy(request) is { } named && IsServerPrivate(named)) return named;
        foreach (var parameter in new[] { Api.DeltaApi.FromDigest, Api.DeltaApi.ToDigest, Api.DeltaApi.ToTag })
            foreach (var text in request.Query[parameter])
            {
                if (string.IsNullOrEmpty(text)) continue;
                try { if (Reference.Parse(text).Repository is var repository && IsServerPrivate(repository)) return repository; }
                catch (FormatException) { } // the handler refuses it
            }
        return null;
    }

    /// <summary>The repository a request is about, for the scope of a challenge; null when it names none or names it badly.</summary>
    public static string? RepositoryNamedBy(HttpRequest request)
    {
        var path = request.Path.Value ?? "";
        // Any case: routing matches /V2/ as it matches /v2/, so this check must too (a /V2/ path read the private repository).
        if (path.StartsWith("/v2/", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var marker in new[] { "/manifests/", "/blobs/", "/tags/", "/referrers/" })
            {
                var at = path.LastIndexOf(marker, StringComparison.Ordinal);
                if (at > 4) return Reference.IsValidRepository(path[4..at]) ? path[4..at] : null;
            }
            return null;
        }
        foreach (var parameter in new[] { Api.DeltaApi.FromDigest, Api.DeltaApi.ToDigest, Api.DeltaApi.ToTag })
        {
            if (request.Query[parameter] is [{ Length: > 0 } text])
            {
                try { return Reference.Parse(text).Repository; }
                catch (FormatException) { return null; }
            }
        }
        return null;
    }
}

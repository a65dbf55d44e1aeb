using System.Net;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Access;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
// Every answer a read of /v2/{path} may give, so the API document comes from the signature.
using RegistryRead = Microsoft.AspNetCore.Http.HttpResults.Results<Microsoft.AspNetCore.Http.HttpResults.Ok<Doras.Server.Endpoints.RegistryEndpoints.TagList>,
    Microsoft.AspNetCore.Http.HttpResults.FileContentHttpResult, Microsoft.AspNetCore.Http.HttpResults.FileStreamHttpResult,
    Microsoft.AspNetCore.Http.HttpResults.EmptyHttpResult, Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult>;

namespace Doras.Server.Endpoints;

/// <summary>
/// A read-only slice of the OCI distribution API over the images the caller may read (<c>/v2/…</c>: manifests,
/// blobs with HTTP Range, tags, referrers), so devices that cannot reach a registry download versions and deltas from the
/// server itself, resuming interrupted downloads. Map it on a group that requires a caller policy (device clients, or
/// peers): the <see cref="Caller"/> its scheme admitted reads, so in registry mode every read goes to the registry
/// with the caller's authorization. Errors are problem+json
/// carrying the distribution spec's <c>errors</c> array as an extension.
/// </summary>
public static class RegistryEndpoints
{
    /// <param name="namePrefix">Prefixes the endpoints' OpenAPI operation names, which must be unique when the API is mapped twice (peers read it under /peer/v1).</param>
    public static void MapRegistryEndpoints(this IEndpointRouteBuilder app, string namePrefix = "")
    {
        app.MapGet("/v2/", async Task<Results<JsonHttpResult<object>, ProblemHttpResult>> (Caller caller, HttpContext http, ClientAccess access, CancellationToken ct) =>
            {
                http.Response.Headers[RegistryClient.ApiVersionHeader] = "registry/2.0"; // what clients check to know a v2 registry, 401 included
                if (await access.PingRefusalAsync(caller, ct) is { } refused) return refused.ToResult(http);
                return TypedResults.Json<object>(new { });
            })
            .WithName(namePrefix + "RegistryBase").WithSummary("OCI distribution API base: 200 for callers admitted by the access rule.")
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        ReadEndpoint(app.MapGet("/v2/{**path}", ReadAsync)).WithName(namePrefix + "RegistryRead")
            .WithSummary("Read-only OCI distribution API: {repo}/manifests/{reference}, {repo}/blobs/{digest} (with Range), {repo}/tags/list, {repo}/referrers/{digest} (?artifactType=).");
        ReadEndpoint(app.MapMethods("/v2/{**path}", [HttpMethods.Head], ReadAsync)).WithName(namePrefix + "RegistryStat")
            .WithSummary("HEAD of a manifest or blob: its digest, size and media type.");
    }

    private static RouteHandlerBuilder ReadEndpoint(RouteHandlerBuilder endpoint) => endpoint
        .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream")
        .Produces(StatusCodes.Status206PartialContent, contentType: "application/octet-stream")
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound);

    private enum Read { Tags, Manifest, Blob, Referrers }

    /// <summary>
    /// The repository a read of <c>/v2/{path}</c> reads, parsed exactly as the read is (so a rule about repositories,
    /// like the peer API's grants, holds for what is read); null when the path is no read route.
    /// </summary>
    public static string? RepositoryOf(string? path) => Parse(path)?.Repository;

    private static (string Repository, Read Kind, string Reference)? Parse(string? path)
    {
        if (path is null) return null;
        if (path.EndsWith("/tags/list", StringComparison.Ordinal)) return (path[..^"/tags/list".Length], Read.Tags, "");
        var manifests = path.LastIndexOf("/manifests/", StringComparison.Ordinal);
        if (manifests > 0) return (path[..manifests], Read.Manifest, path[(manifests + "/manifests/".Length)..]);
        var blobs = path.LastIndexOf("/blobs/", StringComparison.Ordinal);
        if (blobs > 0) return (path[..blobs], Read.Blob, path[(blobs + "/blobs/".Length)..]);
        var referrers = path.LastIndexOf("/referrers/", StringComparison.Ordinal);
        if (referrers > 0) return (path[..referrers], Read.Referrers, path[(referrers + "/referrers/".Length)..]);
        return null;
    }

    /// <summary>A tag list, as the distribution API answers it.</summary>
    public sealed record TagList(string Name, List<string> Tags);

    private static async Task<RegistryRead> ReadAsync(
        string path, Caller caller, HttpContext http, ClientAccess access, CancellationToken ct)
    {
        var images = caller.Images;
        if (Parse(path) is not (var repository, var kind, var reference)) return Error(http, StatusCodes.Status404NotFound, "NAME_UNKNOWN", $"no such route: /v2/{path}");
        // Also here, from the path as the handler reads it: the server's own records are never served, however the
        // request was spelled on its way past the authorization policy.
        if (access.IsServerPrivate(repository)) return Error(http, StatusCodes.Status404NotFound, "NAME_UNKNOWN", $"repository {repository} is not served here");
        try
        {
            return kind switch
            {
                Read.Tags => await TagsAsync(http, images, repository, ct),
                Read.Manifest => await ManifestAsync(http, images, repository, reference, ct),
                Read.Referrers => await ReferrersAsync(http, images, repository, reference, ct),
                _ => await BlobAsync(http, images, repository, reference, ct),
            };
        }
        catch (HttpRequestException e) when (access.RefusalOf(e, repository) is { } refusal)
        {
            return (await refusal).ToResult(http);
        }
    }

    private static async Task<RegistryRead> TagsAsync(HttpContext http, IOciStore images, string name, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(http, StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        var tags = new List<string>();
        await foreach (var tag in images.Repository(name).ListTagsAsync(ct)) tags.Add(tag);
        return TypedResults.Ok(new TagList(name, tags));
    }

    private static async Task<RegistryRead> ManifestAsync(HttpContext http, IOciStore images, string name, string reference, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(http, StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        var repository = images.Repository(name);
        Descriptor? descriptor;
        try { descriptor = await repository.TryResolveAsync(reference, ct); }
        catch (FormatException e) { return Error(http, StatusCodes.Status400BadRequest, "TAG_INVALID", e.Message); }
        if (descriptor is null) return Error(http, StatusCodes.Status404NotFound, "MANIFEST_UNKNOWN", $"manifest {name}:{reference} not found");

        var bytes = await repository.FetchBytesAsync(descriptor, ct: ct);
        SetContentHeaders(http, descriptor.Digest);
        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentType = descriptor.MediaType;
            http.Response.ContentLength = bytes.Length;
            return TypedResults.Empty;
        }
        return TypedResults.Bytes(bytes, descriptor.MediaType);
    }

    private static async Task<RegistryRead> BlobAsync(HttpContext http, IOciStore images, string name, string digestText, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(http, StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        if (!Digest.TryParse(digestText, out var digest)) return Error(http, StatusCodes.Status400BadRequest, "DIGEST_INVALID", $"invalid digest '{digestText}'");
        var stream = images.Repository(name) switch
        {
            ISeekableBlobSource source => await source.OpenSeekableAsync(digest, ct),
            var other => throw new NotSupportedException($"{other.GetType().Name} cannot serve blobs with ranges"),
        };
        if (stream is null) return Error(http, StatusCodes.Status404NotFound, "BLOB_UNKNOWN", $"blob {digest} not found in {name}");

        SetContentHeaders(http, digest);
        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentLength = stream.Length;
            http.Response.Headers.AcceptRanges = "bytes";
            http.Response.ContentType = "application/octet-stream";
            await stream.DisposeAsync();
            return TypedResults.Empty;
        }
        return TypedResults.Stream(stream, "application/octet-stream", enableRangeProcessing: true,
            entityTag: new EntityTagHeaderValue($"\"{digest}\""));
    }

    /// <summary>
    /// The referrers of a manifest, as the distribution spec answers <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c>:
    /// an image index of their descriptors (with artifactType and annotations), empty for a subject nothing refers to
    /// (or that is not there); <c>?artifactType=</c> filters, which <c>OCI-Filters-Applied</c> says.
    /// </summary>
    private static async Task<RegistryRead> ReferrersAsync(HttpContext http, IOciStore images, string name, string digestText, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(http, StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        if (!Digest.TryParse(digestText, out var digest)) return Error(http, StatusCodes.Status400BadRequest, "DIGEST_INVALID", $"invalid digest '{digestText}'");
        if (images.Repository(name) is not IReferrerLister lister)
            return Error(http, StatusCodes.Status404NotFound, "NAME_UNKNOWN", $"the store of {name} cannot list referrers");
        var artifactType = http.Request.Query["artifactType"].FirstOrDefault();
        if (artifactType is { Length: 0 }) artifactType = null;
        IReadOnlyList<Descriptor> referrers;
        // Bounded like every answer: as many as a copy brings with a version (GraphCopy's 500); in registry mode the
        // registry's list is not read past them. A device reads at most 256 signatures of a kind anyway.
        try { referrers = [.. (await lister.ReferrersAsync(digest, artifactType, ct, limit: MaxReferrersListed)).Take(MaxReferrersListed)]; }
        catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.NotFound) { referrers = []; } // a registry's unknown repository: nothing refers to anything there
        if (artifactType is not null) http.Response.Headers["OCI-Filters-Applied"] = "artifactType";
        var index = OciJson.Serialize(new ImageIndex { MediaType = MediaTypes.ImageIndex, Manifests = referrers.Select(Listed).ToList() });
        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentType = MediaTypes.ImageIndex;
            http.Response.ContentLength = index.Length;
            return TypedResults.Empty;
        }
        return TypedResults.Bytes(index, MediaTypes.ImageIndex);
    }

    private const int MaxReferrersListed = 500;

    /// <summary>A referrer as the referrers API lists it: the manifest's descriptor with its artifactType and annotations, nothing else.</summary>
    private static Descriptor Listed(Descriptor d) => new()
    {
        MediaType = d.MediaType, Digest = d.Digest, Size = d.Size, ArtifactType = d.ArtifactType, Annotations = d.Annotations,
    };

    private static void SetContentHeaders(HttpContext http, Digest digest)
    {
        http.Response.Headers["Docker-Content-Digest"] = digest.ToString();
        http.Response.Headers.ETag = $"\"{digest}\"";
    }

    private static ProblemHttpResult Error(HttpContext http, int status, string code, string message) =>
        new ApiProblem(status, status == 404 ? Api.ProblemTypes.NotFound : Api.ProblemTypes.InvalidRequest, code, message) { RegistryCode = code }.ToResult(http);
}

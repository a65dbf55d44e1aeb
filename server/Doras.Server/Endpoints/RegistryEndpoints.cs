using Doras.Api;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Net.Http.Headers;

namespace Doras.Server.Endpoints;

/// <summary>
/// A read-only slice of the OCI distribution API over the server's store (<c>/v2/…</c>: manifests, blobs
/// with HTTP Range, tags), so devices that cannot reach a registry download versions and deltas from the
/// server itself, resuming interrupted downloads. Errors are problem+json carrying the distribution
/// spec's <c>errors</c> array as an extension.
/// </summary>
public static class RegistryEndpoints
{
    public static void MapRegistryEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/", () => Results.Json(new { }));
        app.MapMethods("/v2/{**path}", [HttpMethods.Get, HttpMethods.Head], async (string path, HttpContext http, IOciStore store, CancellationToken ct) =>
        {
            if (path.EndsWith("/tags/list", StringComparison.Ordinal))
                return await TagsAsync(store, path[..^"/tags/list".Length], ct);
            var manifests = path.LastIndexOf("/manifests/", StringComparison.Ordinal);
            if (manifests > 0)
                return await ManifestAsync(http, store, path[..manifests], path[(manifests + "/manifests/".Length)..], ct);
            var blobs = path.LastIndexOf("/blobs/", StringComparison.Ordinal);
            if (blobs > 0)
                return await BlobAsync(http, store, path[..blobs], path[(blobs + "/blobs/".Length)..], ct);
            return Error(StatusCodes.Status404NotFound, "NAME_UNKNOWN", $"no such route: /v2/{path}");
        });
    }

    private static async Task<IResult> TagsAsync(IOciStore store, string name, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        var tags = new List<string>();
        await foreach (var tag in store.Repository(name).ListTagsAsync(ct)) tags.Add(tag);
        return Results.Json(new { name, tags });
    }

    private static async Task<IResult> ManifestAsync(HttpContext http, IOciStore store, string name, string reference, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        var repository = store.Repository(name);
        Descriptor? descriptor;
        try { descriptor = await repository.TryResolveAsync(reference, ct); }
        catch (FormatException e) { return Error(StatusCodes.Status400BadRequest, "TAG_INVALID", e.Message); }
        if (descriptor is null) return Error(StatusCodes.Status404NotFound, "MANIFEST_UNKNOWN", $"manifest {name}:{reference} not found");

        var bytes = await repository.FetchBytesAsync(descriptor, ct: ct);
        SetContentHeaders(http, descriptor.Digest);
        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentType = descriptor.MediaType;
            http.Response.ContentLength = bytes.Length;
            return Results.Empty;
        }
        return Results.Bytes(bytes, descriptor.MediaType);
    }

    private static async Task<IResult> BlobAsync(HttpContext http, IOciStore store, string name, string digestText, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(name)) return Error(StatusCodes.Status404NotFound, "NAME_INVALID", $"invalid repository name '{name}'");
        if (!Digest.TryParse(digestText, out var digest)) return Error(StatusCodes.Status400BadRequest, "DIGEST_INVALID", $"invalid digest '{digestText}'");
        var repository = store.Repository(name);
        var stream = repository is ISeekableBlobSource local
            ? local.OpenSeekable(digest)
            : await RemoteBlobStream.OpenAsync((RemoteRepository)repository, digest, ct);
        if (stream is null) return Error(StatusCodes.Status404NotFound, "BLOB_UNKNOWN", $"blob {digest} not found in {name}");

        SetContentHeaders(http, digest);
        if (HttpMethods.IsHead(http.Request.Method))
        {
            http.Response.ContentLength = stream.Length;
            http.Response.Headers.AcceptRanges = "bytes";
            http.Response.ContentType = "application/octet-stream";
            await stream.DisposeAsync();
            return Results.Empty;
        }
        return Results.Stream(stream, "application/octet-stream", enableRangeProcessing: true,
            entityTag: new EntityTagHeaderValue($"\"{digest}\""));
    }

    private static void SetContentHeaders(HttpContext http, Digest digest)
    {
        http.Response.Headers["Docker-Content-Digest"] = digest.ToString();
        http.Response.Headers.ETag = $"\"{digest}\"";
    }

    private static IResult Error(int status, string code, string message) =>
        Results.Problem(message, statusCode: status, title: code, type: status == 404 ? ProblemTypes.NotFound : ProblemTypes.InvalidRequest,
            extensions: new Dictionary<string, object?> { ["errors"] = new[] { new { code, message } } });
}

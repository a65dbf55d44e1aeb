using System.Collections.Concurrent;
using System.Net;
using Doras.Api;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;
using Doras.Server.Access;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// The helping side of pull delegation: a trusted peer whose own pulls are rate-limited asks us to pull a manifest
/// or blob from an upstream registry with its credentials there. Only registries listed in
/// <c>Peering:DelegationRegistries</c> are contacted; what we pull is verified against its digest on the way
/// through; every delegated pull is counted per peer and logged.
/// </summary>
public sealed class DelegatedPulls(IOptionsMonitor<PeeringOptions> options, ILogger<DelegatedPulls> logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly SocketsHttpHandler _transport = RegistryClient.CreateTransport();

    /// <summary>How many pulls we did for each peer since start-up.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    public async Task<IResult> ManifestAsync(HttpContext http, PeerIdentity peer, DelegatedPullRequest request, CancellationToken ct)
    {
        var (image, client, problem) = Open(request);
        if (problem is not null) return problem.ToResult(http);
        using (client)
        {
            try
            {
                var repository = client!.Repository(image!.Repository);
                if (await repository.TryResolveAsync(image.Identifier, ct).ConfigureAwait(false) is not { } descriptor)
                    return ApiProblem.NotFound($"{image} does not exist upstream", "MANIFEST_UNKNOWN").ToResult(http);
                var bytes = await repository.FetchBytesAsync(descriptor, ct: ct).ConfigureAwait(false); // verified against its digest
                Count(peer, image);
                http.Response.Headers["Docker-Content-Digest"] = descriptor.Digest.ToString();
                return Results.Bytes(bytes, descriptor.MediaType);
            }
            catch (HttpRequestException e) when (e.StatusCode is { } status)
            {
                return Upstream(status, image!).ToResult(http);
            }
        }
    }

    public async Task<IResult> BlobAsync(HttpContext http, PeerIdentity peer, DelegatedPullRequest request, CancellationToken ct)
    {
        var (image, client, problem) = Open(request);
        if (problem is not null) return problem.ToResult(http);
        if (image!.Digest is not { } digest)
        {
            client!.Dispose();
            return PeerProblems.Invalid($"a delegated blob pull names the blob by digest (host/repo@sha256:…), not '{request.Image}'").ToResult(http);
        }
        http.Response.RegisterForDispose(client!);
        try
        {
            var repository = client!.Repository(image.Repository);
            if (await repository.StatBlobAsync(digest, ct).ConfigureAwait(false) is not { } size)
                return ApiProblem.NotFound($"blob {image} does not exist upstream", "BLOB_UNKNOWN").ToResult(http);
            // Verified as it streams: a wrong byte ends the answer short, and the asking peer refuses it too.
            var stream = await repository.FetchAsync(new Descriptor { MediaType = MediaTypes.OctetStream, Digest = digest, Size = size }, ct).ConfigureAwait(false);
            Count(peer, image);
            http.Response.Headers["Docker-Content-Digest"] = digest.ToString();
            http.Response.ContentLength = size;
            return Results.Stream(stream, MediaTypes.OctetStream);
        }
        catch (HttpRequestException e) when (e.StatusCode is { } status)
        {
            return Upstream(status, image).ToResult(http);
        }
    }

    private (Reference? Image, RegistryClient? Client, ApiProblem? Problem) Open(DelegatedPullRequest request)
    {
        Reference image;
        try { image = Reference.Parse(request.Image ?? ""); }
        catch (FormatException e) { return (null, null, PeerProblems.Invalid($"'image': {e.Message}")); }
        if (!image.HasIdentifier) return (null, null, PeerProblems.Invalid($"'image' must name a tag or digest, got '{request.Image}'"));
        var registry = options.CurrentValue.DelegationRegistries.FirstOrDefault(r => r.Host.Length > 0 && r.Host == image.Registry);
        if (registry is null)
            return (null, null, ApiProblem.Forbidden($"this server pulls for peers only from the registries in Peering:DelegationRegistries, not from '{image.Registry}'"));
        var credentials = string.IsNullOrEmpty(request.User) ? null
            : new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(request.User, request.Password) });
        var client = new RegistryClient(registry.Host, new RegistryClientOptions
        {
            PlainHttp = registry.PlainHttp, Credentials = credentials, Retry = new() { MaxRetries = 1 }, Timeout = TimeSpan.FromMinutes(5),
        }, _transport);
        return (image, client, null);
    }

    private void Count(PeerIdentity peer, Reference image)
    {
        var count = _counts.AddOrUpdate(peer.Name, 1, (_, n) => n + 1);
        logger.LogInformation("Pulled {Image} for peer {Peer} (pull delegation; {Count} for this peer so far)", image.ToString(), peer.Name, count);
    }

    /// <summary>
    /// The upstream's refusal, passed on with its status (a 429 stays a 429, so the asking peer tries another), except
    /// a 401, passed on as 403: a 401 from the peer API means the caller's peer token was refused, and the caller
    /// would fetch a new token and ask again.
    /// </summary>
    private static ApiProblem Upstream(HttpStatusCode status, Reference image) =>
        PeerProblems.UpstreamRefused(status == HttpStatusCode.Unauthorized ? StatusCodes.Status403Forbidden : (int)status,
            $"{image.Registry} answered {(int)status} {status} to our pull of {image}");

    public void Dispose() => _transport.Dispose();
}

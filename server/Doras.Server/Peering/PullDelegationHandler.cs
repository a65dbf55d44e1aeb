using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// The asking side of pull delegation, at the bottom of the server's own registry client: when the registry
/// refuses a manifest or blob pull because of its rate limit (429, or Docker Hub's <c>TOOMANYREQUESTS</c>), the
/// pull is asked of the peers in <c>Peering:DelegatePullsTo</c>, in order, with the pull-only credentials of
/// <c>Peering:DelegationCredentials</c> for that registry (none: the peer pulls anonymously), never the server's own. A delegated manifest is verified against its digest here; a blob by whoever reads it whole: the
/// server's own reads (builds, copies) check every digest, and a blob passed through <c>/v2</c> to a device (in ranges,
/// which cannot be checked on the way) is checked by the device, as every download is. When no peer helps, the registry's refusal stands. Only the server's own client has this
/// handler: reads done with a device's authorization are never delegated.
/// </summary>
public sealed partial class PullDelegationHandler(PullDelegation delegation) : DelegatingHandler
{
    [GeneratedRegex("^/v2/(?<repo>.+)/(?<kind>manifests|blobs)/(?<ref>[^/]+)$")]
    private static partial Regex PullPath();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head) return response;
        if (PullPath().Match(request.RequestUri!.AbsolutePath) is not { Success: true } pull) return response;
        // Only content named by digest is delegated, so what a peer sends is checked against what we asked for: a
        // tag's answer could only be checked against the digest the peer itself announces. Our own state stays ours.
        if (!pull.Groups["ref"].Value.Contains(':') || delegation.IsStateRepository(pull.Groups["repo"].Value)) return response;
        if (!await IsRateLimitedAsync(response, ct).ConfigureAwait(false)) return response;

        var image = $"{request.RequestUri.Authority}/{pull.Groups["repo"].Value}{(pull.Groups["ref"].Value.Contains(':') ? "@" : ":")}{pull.Groups["ref"].Value}";
        var delegated = pull.Groups["kind"].Value == "manifests"
            ? await delegation.ManifestAsync(image, ct).ConfigureAwait(false)
            : await delegation.BlobAsync(image, ct).ConfigureAwait(false);
        if (delegated is null) return response;
        response.Dispose();
        delegated.RequestMessage = request;
        return delegated;
    }

    /// <summary>429, or an error whose distribution error code is TOOMANYREQUESTS (its body is kept for the caller).</summary>
    private static async Task<bool> IsRateLimitedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.StatusCode == HttpStatusCode.TooManyRequests) return true;
        // 401 (the auth handler's challenge) and 404 (an existence check) are frequent and never a rate limit.
        if ((int)response.StatusCode < 400 || response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.NotFound) return false;
        var body = await response.Content.ReadBoundedAsync(16 << 10, "registry error", ct, truncate: true).ConfigureAwait(false);
        var headers = response.Content.Headers.ToList();
        response.Content = new ByteArrayContent(body);
        foreach (var (name, values) in headers) response.Content.Headers.TryAddWithoutValidation(name, values);
        return System.Text.Encoding.UTF8.GetString(body).Contains("\"TOOMANYREQUESTS\"", StringComparison.Ordinal);
    }
}

/// <summary>Asks our pull-delegation peers for a manifest or blob, and checks what they send.</summary>
public sealed class PullDelegation(PeerClients peers, IOptionsMonitor<PeeringOptions> options, ILogger<PullDelegation> logger) : Stores.IRegistryTransportWrapper
{
    /// <summary>Wraps the transport of the server's own registry client, when any peer is configured to pull for us.</summary>
    public HttpMessageHandler Wrap(HttpMessageHandler transport) => new PullDelegationHandler(this) { InnerHandler = transport };

    public bool IsStateRepository(string repository) => repository == options.CurrentValue.StateRepository;

    /// <summary>The manifest as a registry answer (bytes, media type, digest), or null when no peer could pull it.</summary>
    public async Task<HttpResponseMessage?> ManifestAsync(string image, CancellationToken ct)
    {
        var requested = Reference.Parse(image).Digest;
        foreach (var (peer, response) in await AskAsync(PeerApi.DelegatedManifest, image, ct).ConfigureAwait(false))
        {
            using (response)
            {
                var bytes = await response.Content.ReadBoundedAsync(OciJson.MaxManifestBytes, $"manifest {image} from peer {peer}", ct).ConfigureAwait(false);
                var algorithm = requested?.Algorithm ?? Digest.Sha256;
                var digest = Digest.Compute(bytes, algorithm);
                var announced = response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var a) ? a : (Digest?)null;
                if ((requested is { } r && r != digest) || (announced is { } an && an.Algorithm == algorithm && an != digest))
                {
                    logger.LogWarning("Peer {Peer} sent a manifest for {Image} whose digest {Digest} does not match; ignored", peer, image, digest);
                    continue;
                }
                logger.LogInformation("Peer {Peer} pulled {Image} for us ({Digest})", peer, image, digest);
                var answer = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(bytes) };
                answer.Content.Headers.ContentType = response.Content.Headers.ContentType ?? new MediaTypeHeaderValue(MediaTypes.ImageManifest);
                answer.Headers.TryAddWithoutValidation("Docker-Content-Digest", digest.ToString());
                return answer;
            }
        }
        return null;
    }

    /// <summary>The blob as a registry answer (its body streams from the peer and is verified by the reader), or null.</summary>
    public async Task<HttpResponseMessage?> BlobAsync(string image, CancellationToken ct)
    {
        foreach (var (peer, response) in await AskAsync(PeerApi.DelegatedBlob, image, ct).ConfigureAwait(false))
        {
            logger.LogInformation("Peer {Peer} pulls blob {Image} for us", peer, image);
            return response;
        }
        return null;
    }

    /// <summary>The first successful answer of our delegation peers (at most one is returned, undisposed).</summary>
    private async Task<List<(string Peer, HttpResponseMessage Response)>> AskAsync(string path, string image, CancellationToken ct)
    {
        var host = Reference.Parse(image).Registry;
        // Peers get pull-only credentials made for them, or none: our registry credentials may push, and stay ours.
        var pullOnly = options.CurrentValue.DelegationCredentials.FirstOrDefault(c => c.Host == host);
        foreach (var peer in options.CurrentValue.DelegatePullsTo)
        {
            try
            {
                var client = peers.For(peer, PeerScopes.DelegatePull);
                var response = await client.SendRawAsync(HttpMethod.Post, path, new DelegatedPullRequest(image, pullOnly?.Username, pullOnly?.Password), ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return [(peer, response)];
                var failure = await PeerClient.FailureAsync(peer, response, "did not pull for us", ct).ConfigureAwait(false);
                response.Dispose();
                logger.LogWarning("Pull delegation of {Image}: {Failure}", image, failure.Message);
            }
            catch (Exception e) when (PeerFailures.IsPeers(e, ct))
            {
                logger.LogWarning("Pull delegation of {Image} to peer {Peer} failed: {Error}", image, peer, e.Message);
            }
        }
        return [];
    }
}

using System.Net;
using System.Net.Http.Headers;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Extensions.Logging;

namespace Doras.EdgeClient.Updates;

/// <summary>Where an update reads versions from: one rule for artifacts and images.</summary>
internal static class UpdateSource
{
    /// <summary>
    /// Where to download from: the registry the reference names, when it answers (with the authorization the
    /// server should use on our behalf), or else the Doras server's /v2 API. Its downloads do not resume on their
    /// own: the update's attempts are the one layer that retries them, resuming with Range.
    /// </summary>
    public static async Task<(IReadOnlyOciRepository Repository, AuthenticationHeaderValue? Authorization)> OpenAsync(DeltaClient client, RegistryClient? registry, Reference reference, ILogger log, CancellationToken ct)
    {
        if (reference.Registry is null || registry is null) return (client.Repository(reference.Repository).WithoutResumes(), null);
        try
        {
            var authorization = await registry.ReadAuthorizationAsync(reference.Repository, ct).ConfigureAwait(false);
            return (registry.Repository(reference.Repository).WithoutResumes(), authorization);
        }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            // The first read is a tag listing, but what the user asked for is the reference: name it, and what to give.
            var answer = e.Message[(e.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..];
            throw new HttpRequestException($"{reference}: the registry {reference.Registry} did not let this device read it ({answer}); " +
                "give its credentials (-u/-p, or the Docker config)", e, e.StatusCode);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            log.LogWarning("Registry {Registry} is unreachable ({Error}); downloading through the Doras server", reference.Registry, e.Message);
            return (client.Repository(reference.Repository).WithoutResumes(), null);
        }
    }
}

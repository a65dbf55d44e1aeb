using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Doras.Api;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Load;

/// <summary>What one simulated device went through.</summary>
public sealed record DeviceResult(int Device, bool Served, int Requests, int Failovers, TimeSpan Elapsed, string? Error);

/// <summary>
/// Simulated devices: concurrent HTTP clients in this process, each installed on one version, asking the delta API
/// (starting at its own instance, moving to the next when one fails) until the delta is ready, honouring
/// Retry-After up to a cap, then downloading the delta's manifest and layer through that instance's /v2/ API,
/// verified by digest.
/// </summary>
/// Devices check in spread evenly over <paramref name="ramp"/>, as a fleet does, not all in the same millisecond.
public sealed class Fleet(HttpClient http, IReadOnlyList<Uri> instances, string registryHost, string repository, IReadOnlyList<Digest> bases, string target, TimeSpan retryCap, TimeSpan deadline, TimeSpan ramp)
{
    public async Task<IReadOnlyList<DeviceResult>> RunAsync(int devices)
    {
        using var overall = new CancellationTokenSource(deadline);
        return await Task.WhenAll(Enumerable.Range(0, devices).Select(d => Task.Run(async () =>
        {
            await Task.Delay(ramp * d / devices, overall.Token);
            return await DeviceAsync(d, overall.Token);
        })));
    }

    private async Task<DeviceResult> DeviceAsync(int device, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var from = bases[device % bases.Count];
        var query = $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{registryHost}/{repository}@{from}")}&to_tag={Uri.EscapeDataString($"{registryHost}/{repository}:{target}")}&accepted_algorithm=zstd";
        var instance = device % instances.Count;
        int requests = 0, failovers = 0;
        var jitter = new Random(device);
        string? lastError = null;
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                requests++;
                HttpResponseMessage response;
                try { response = await http.GetAsync(new Uri(instances[instance], query), ct); }
                catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    lastError = e.Message;
                    instance = (instance + 1) % instances.Count; // that instance is gone: ask the next
                    failovers++;
                    continue;
                }
                using (response)
                {
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                        await DownloadAsync(instances[instance], body.RootElement.GetProperty("delta_image").GetString()!, ct);
                        return new DeviceResult(device, true, requests, failovers, clock.Elapsed, null);
                    }
                    if (response.StatusCode is not (HttpStatusCode.Accepted or HttpStatusCode.ServiceUnavailable))
                        return new DeviceResult(device, false, requests, failovers, clock.Elapsed, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                    var hint = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                    var wait = (hint < retryCap ? hint : retryCap) * (0.5 + jitter.NextDouble());
                    await Task.Delay(wait, ct);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return new DeviceResult(device, false, requests, failovers, clock.Elapsed, $"not served before the deadline ({lastError})");
        }
    }

    /// <summary>The delta's manifest and its layer, through the server's /v2/ API, each verified by digest as it is read.</summary>
    private async Task DownloadAsync(Uri instance, string deltaImage, CancellationToken ct)
    {
        var reference = Reference.Parse(deltaImage);
        var remote = new RemoteRepository(http, instance, reference.Repository);
        var descriptor = await remote.ResolveAsync(reference.Identifier, ct);
        var manifest = await remote.FetchManifestAsync(descriptor, ct);
        await using var layer = await remote.FetchAsync(manifest.Layers.Single(), ct);
        await layer.CopyToAsync(Stream.Null, ct);
    }
}

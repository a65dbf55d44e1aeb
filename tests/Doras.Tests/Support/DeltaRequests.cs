using System.Net;
using System.Text.Json;
using Doras.Api;
using Doras.Oci.Model;

namespace Doras.Tests.Support;

/// <summary>Asks a running server for a delta the way a device does, until it is ready (bounded).</summary>
public static class DeltaRequests
{
    public static string Query(string repository, Descriptor from, string toTag, string algorithm = "zstd") =>
        $"{DeltaApi.Path}?{DeltaApi.FromDigest}={Uri.EscapeDataString(Versions.Ref(repository, from))}&{DeltaApi.ToTag}={Uri.EscapeDataString($"{repository}:{toTag}")}&{DeltaApi.AcceptedAlgorithm}={algorithm}";

    /// <summary>Polls until 200 (at most 60 s); returns the ready answer's JSON and how many requests it took.</summary>
    public static async Task<(string Json, int Requests)> ReadyAsync(HttpClient http, string query, Action<HttpRequestMessage>? prepare = null)
    {
        for (var attempt = 1; attempt <= 600; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, query);
            prepare?.Invoke(request);
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK) return (body, attempt);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
            await Task.Delay(100);
        }
        Assert.Fail($"the delta {query} was not ready within 60 s");
        throw new InvalidOperationException();
    }

    public static DeltaResponse Parse(string json) => JsonSerializer.Deserialize(json, ApiJsonContext.Default.DeltaResponse)!;
}

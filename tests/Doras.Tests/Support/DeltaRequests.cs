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
        var requests = 0;
        var (status, body) = await Eventually.UntilAsync(async () =>
        {
            requests++;
            var answer = await AskAsync(http, query, prepare);
            Assert.That(answer.Status, Is.AnyOf(HttpStatusCode.OK, HttpStatusCode.Accepted), answer.Body);
            return answer;
        }, answer => answer.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(60), $"the delta {query} is ready");
        return (body, requests);
    }

    /// <summary>Polls while the server answers 202 (at most <paramref name="limit"/>, 60 s unless given); returns its first other answer.</summary>
    public static Task<(HttpStatusCode Status, string Body)> SettledAsync(HttpClient http, string query, TimeSpan? limit = null) =>
        Eventually.UntilAsync(() => AskAsync(http, query, null), answer => answer.Status != HttpStatusCode.Accepted,
            limit ?? TimeSpan.FromSeconds(60), $"the server answers {query} with something other than 202");

    private static async Task<(HttpStatusCode Status, string Body)> AskAsync(HttpClient http, string query, Action<HttpRequestMessage>? prepare)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, query);
        prepare?.Invoke(request);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static DeltaResponse Parse(string json) => JsonSerializer.Deserialize(json, ApiJsonContext.Default.DeltaResponse)!;
}

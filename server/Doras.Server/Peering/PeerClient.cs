using System.Net.Http.Json;
using System.Text.Json;
using Doras.Oci.Remote;

namespace Doras.Server.Peering;

/// <summary>
/// Our client of one peer's API, holding a token for the scopes it was made for (<see cref="PeerTokenHandler"/>):
/// JSON calls whose answers are read under a bound, and the peer's repositories as registries over
/// <c>/peer/v1/v2/…</c>, where every manifest and blob is verified against its digest.
/// </summary>
public sealed class PeerClient(string name, PeerOptions config, HttpClient http, PeerTokenHandler tokens)
{
    public string Name { get; } = name;
    public Uri BaseAddress { get; } = BaseOf(config);
    public PeerTokenHandler Tokens { get; } = tokens;

    public static Uri BaseOf(PeerOptions config) => new(config.Url.TrimEnd('/') + PeerApi.Prefix + "/");

    /// <summary>A repository of the peer, read through its peer API.</summary>
    public RemoteRepository Repository(string repository) => new(http, BaseAddress, repository);

    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var response = await SendRawAsync(method, path, body, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw await FailureAsync(Name, response, $"refused {method} {path}", ct).ConfigureAwait(false);
        var bytes = await response.Content.ReadBoundedAsync(PeerApi.MaxJsonBytes, $"answer of peer {Name} to {path}", ct).ConfigureAwait(false);
        return JsonSerializer.Deserialize<T>(bytes, PeerApi.Json) ?? throw new InvalidDataException($"peer {Name} answered {path} with null");
    }

    /// <summary>The peer's answer as it is (the caller reads and disposes it).</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(BaseAddress, path))
        {
            Content = body is null ? null : JsonContent.Create(body, body.GetType(), options: PeerApi.Json),
        };
        try { return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false); }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            throw new HttpRequestException($"peer {Name} ({BaseAddress}) could not be reached: {e.Message}", e, null);
        }
    }

    /// <summary>
    /// A refusal or failure of a peer as an exception that keeps its status (so <see cref="Transience"/> tells a
    /// passing fault from a refusal) and the problem's title and detail.
    /// </summary>
    public static async Task<HttpRequestException> FailureAsync(string peer, HttpResponseMessage response, string what, CancellationToken ct)
    {
        var text = "";
        try
        {
            var bytes = await response.Content.ReadBoundedAsync(16 << 10, $"problem from peer {peer}", ct, truncate: true).ConfigureAwait(false);
            using var problem = JsonDocument.Parse(bytes);
            text = $"{Field(problem, "title")}: {Field(problem, "detail")}";
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidDataException) { }
        return new HttpRequestException($"peer {peer} {what}: {(int)response.StatusCode} {response.ReasonPhrase}{(text.Length > 2 ? " (" + text + ")" : "")}", null, response.StatusCode);
    }

    private static string Field(JsonDocument document, string name) =>
        document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value) ? value.ToString() : "";
}

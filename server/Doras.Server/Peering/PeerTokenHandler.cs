using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Doras.Oci;
using Doras.Oci.Remote;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// Puts a peer token with the scopes this client needs on every request to one peer. The token is fetched with
/// our current credentials for that peer (read from <c>IOptionsMonitor</c> each time, so rotated credentials
/// are used without a restart), renewed when four fifths of its lifetime have passed, and fetched again once
/// when the peer answers 401 (it rotated its side, or restarted with other settings).
/// </summary>
public sealed class PeerTokenHandler(string peer, IReadOnlyCollection<string> scopes, IOptionsMonitor<PeeringOptions> options, TimeProvider time) : DelegatingHandler
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private (string Token, DateTimeOffset RenewAt, string Credentials)? _current;

    /// <summary>How many tokens this client has fetched (renewals included), for logs and tests.</summary>
    public int TokensFetched { get; private set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.Content is not null) await request.Content.LoadIntoBufferAsync(ct).ConfigureAwait(false); // so it can be sent again
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(stale: null, ct).ConfigureAwait(false));
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
        var refused = request.Headers.Authorization.Parameter;
        response.Dispose();
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(stale: refused, ct).ConfigureAwait(false));
        return await base.SendAsync(request, ct).ConfigureAwait(false);
    }

    private async Task<string> TokenAsync(string? stale, CancellationToken ct)
    {
        var config = options.CurrentValue.Peer(peer) ?? throw new InvalidOperationException($"no peer named '{peer}' is configured (Peering:Peers)");
        var credentials = $"{config.Url}\n{config.Username}\n{config.Password}";
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_current is { } c && c.Token != stale && c.Credentials == credentials && time.GetUtcNow() < c.RenewAt) return c.Token;
            var issued = time.GetUtcNow();
            var answer = await FetchAsync(config, ct).ConfigureAwait(false);
            TokensFetched++;
            _current = (answer.Token, issued + TimeSpan.FromSeconds(answer.ExpiresIn * 0.8), credentials);
            return answer.Token;
        }
        finally { _lock.Release(); }
    }

    private async Task<TokenAnswer> FetchAsync(PeerOptions config, CancellationToken ct)
    {
        var query = string.Join('&', scopes.Select(s => "scope=" + Uri.EscapeDataString(s)));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(PeerClient.BaseOf(config), $"{PeerApi.Token}?{query}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{config.Username}:{config.Password}")));
        using var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var failure = await PeerClient.FailureAsync(peer, response, "refused our peering credentials", ct).ConfigureAwait(false);
            throw new PeerTokenException(failure.Message, response.StatusCode);
        }
        var bytes = await response.Content.ReadBoundedAsync(PeerApi.MaxJsonBytes, $"token from peer {peer}", ct).ConfigureAwait(false);
        var answer = System.Text.Json.JsonSerializer.Deserialize<TokenAnswer>(bytes, PeerApi.Json);
        return answer is { Token.Length: > 0, ExpiresIn: > 0 } ? answer : throw new InvalidDataException($"peer {peer} answered the token request without a token");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _lock.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>A peer gave us no token: our credentials, or its URL, are wrong (never a verdict about a repository).</summary>
public sealed class PeerTokenException(string message, HttpStatusCode status) : HttpRequestException(message, null, status), IFailure
{
    public FailureKind Kind => Failures.KindOf(status);

    public bool IsTransient => Transience.IsTransient(status);
}

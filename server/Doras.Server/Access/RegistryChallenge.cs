using Doras.Oci.Remote.Auth;
using Doras.Server.Stores;

namespace Doras.Server.Access;

/// <summary>
/// The <c>WWW-Authenticate</c> challenge the server sends a caller without credentials: the registry's own (asked
/// once with an anonymous <c>GET /v2/</c> and remembered), with the repository's pull scope added to a Bearer
/// challenge, so a registry client (skopeo, docker, our edge client) gets a token from the registry's token
/// server and sends it here. When the registry cannot be asked, a Basic challenge naming it.
/// </summary>
public sealed class RegistryChallenge(ArtifactStores stores, ILogger<RegistryChallenge> logger)
{
    private static readonly TimeSpan Remember = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    /// <summary>A failed probe is not repeated sooner: anonymous callers must not make the server call the registry at will.</summary>
    private static readonly TimeSpan RememberFailure = TimeSpan.FromSeconds(30);
    private (Challenge? Challenge, DateTimeOffset At, bool Failed, bool AsksNoLogin)? _known;

    /// <summary>
    /// What to tell the operator when the registry lets anyone read (its <c>GET /v2/</c> answered 200 with no
    /// challenge) while <c>Registry:RequireClientAuth</c> is on: no device has credentials to send, so every delta
    /// request is refused and devices silently never get a delta. Null when that is not the case (or unknown).
    /// </summary>
    public async Task<string?> MisconfigurationAsync(CancellationToken ct)
    {
        if (!stores.RequireClientAuth || stores.RegistryHost is null) return null;
        await RegistryChallengeAsync(ct).ConfigureAwait(false);
        return _known is { AsksNoLogin: true }
            ? $"the registry {stores.RegistryHost} asks no login (GET /v2/ answered without a challenge), so with Registry:RequireClientAuth on no device can authenticate and none gets a delta: set Registry:RequireClientAuth=false (anyone who reaches this server then reads what it serves: a trusted network or an authenticating proxy)"
            : null;
    }

    public async Task<string> ForRepositoryAsync(string? repository, CancellationToken ct)
    {
        var challenge = await RegistryChallengeAsync(ct).ConfigureAwait(false);
        if (challenge is null) return $"Basic realm=\"{stores.RegistryHost ?? "doras"}\"";
        var parameters = new Dictionary<string, string>(challenge.Parameters, StringComparer.OrdinalIgnoreCase);
        if (challenge.Scheme == "Bearer" && repository is not null) parameters["scope"] = $"repository:{repository}:pull";
        return challenge.Scheme + " " + string.Join(',', parameters.Select(p => $"{p.Key}=\"{p.Value.Replace("\\", "\\\\").Replace("\"", "\\\"")}\""));
    }

    /// <summary>One probe at a time: however many anonymous callers arrive together, the registry is asked once.</summary>
    private readonly SemaphoreSlim _probing = new(1, 1);

    private async Task<Challenge?> RegistryChallengeAsync(CancellationToken ct)
    {
        if (Fresh() is { } known) return known.Challenge;
        if (stores.RegistryHost is not { } host) return null;
        await _probing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Fresh() is { } probedMeanwhile) return probedMeanwhile.Challenge;
            // Bounded by its own timeout, not the asking request's: a caller that hangs up neither cancels the probe
            // nor keeps its outcome from being remembered (connect-and-abort loops must not make the server ask again).
            using var timeout = new CancellationTokenSource(ProbeTimeout);
            using var http = new HttpClient(stores.SharedTransport(), disposeHandler: false);
            using var response = await http.GetAsync(new Uri($"{(stores.PlainHttp ? "http" : "https")}://{host}/v2/"), HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var challenge = Challenge.From(response);
            var asksNoLogin = challenge is null && response.IsSuccessStatusCode;
            if (asksNoLogin && _known is not { AsksNoLogin: true } && stores.RequireClientAuth)
                logger.LogWarning("The registry {Registry} asks no login, but Registry:RequireClientAuth is on: every device request will be refused; set Registry:RequireClientAuth=false", host);
            _known = (challenge, DateTimeOffset.UtcNow, false, asksNoLogin);
            return challenge;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            logger.LogWarning("Could not ask {Registry} for its authentication challenge: {Error}", host, e.Message);
            _known = (null, DateTimeOffset.UtcNow, true, false);
            return null;
        }
        finally
        {
            _probing.Release();
        }
    }

    private (Challenge? Challenge, DateTimeOffset At, bool Failed, bool AsksNoLogin)? Fresh() =>
        _known is { } known && DateTimeOffset.UtcNow - known.At < (known.Failed ? RememberFailure : Remember) ? known : null;
}

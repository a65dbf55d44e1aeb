using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// What peering settings must be, named once: secrets long enough to key our tokens with, peer URLs that keep
/// credentials and tokens off the wire in clear unless the operator says the network is trusted. Checked at
/// start-up (<see cref="PeeringCheck"/>), by the admin commands before they write the peers file, and on every
/// use (a peers file reloaded with a bad entry disables that entry, not the server).
/// </summary>
public static class PeeringRules
{
    /// <summary>Fewest characters of a peer password: its HKDF-derived key signs the peer's tokens.</summary>
    public const int MinSecretLength = 32;

    public static string? SecretProblem(string setting, string who, string secret) => secret.Length >= MinSecretLength ? null
        : $"{setting}: the password of peer '{who}' has {secret.Length} characters; peer passwords need at least {MinSecretLength} (e.g. openssl rand -base64 32)";

    public static string? UrlProblem(PeerOptions peer)
    {
        if (!Uri.TryCreate(peer.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            return $"Peering:Peers: peer '{peer.Name}' has no http(s) URL ('{peer.Url}')";
        if (url.Scheme == "http" && !peer.AllowHttp)
            return $"Peering:Peers: peer '{peer.Name}' has a plain-http URL ({peer.Url}), which would carry our credentials and its tokens readable: use https, or set AllowHttp for it on a trusted network";
        return null;
    }

    /// <summary>Why a peer we call cannot be called as configured, or null.</summary>
    public static string? PeerProblem(PeerOptions peer) => UrlProblem(peer) ?? SecretProblem("Peering:Peers", peer.Name, peer.Password);

    public static IEnumerable<string> Problems(PeeringOptions options) =>
        options.Peers.Select(PeerProblem)
            .Concat(options.TrustedPeers.Select(t => SecretProblem("Peering:TrustedPeers", t.Username, t.Password)))
            .OfType<string>();
}

/// <summary>Refuses to start with peering settings that break <see cref="PeeringRules"/>, and logs a reloaded peers file that does.</summary>
public sealed class PeeringCheck(IOptionsMonitor<PeeringOptions> options, ILogger<PeeringCheck> logger) : IHostedService, IDisposable
{
    private IDisposable? _onChange;

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem of <paramref name="settings"/>.</summary>
    public static void Validate(PeeringOptions settings)
    {
        var problems = PeeringRules.Problems(settings).ToList();
        if (problems.Count > 0) throw new OptionsValidationException(PeeringOptions.Section, typeof(PeeringOptions), problems);
    }

    public Task StartAsync(CancellationToken ct)
    {
        Validate(options.CurrentValue);
        _onChange = options.OnChange(changed =>
        {
            foreach (var problem in PeeringRules.Problems(changed))
                logger.LogError("Peering settings reloaded with an entry that is ignored until fixed: {Problem}", problem);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public void Dispose() => _onChange?.Dispose();
}

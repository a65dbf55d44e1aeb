namespace Doras.Server.Authorization;

/// <summary>
/// The kinds of caller the server knows, each an ASP.NET Core authentication scheme of its own, and the
/// authorization policies endpoints declare (<c>.RequireAuthorization(CallerPolicies.X)</c>). A policy names its
/// one scheme, so a request is only ever authenticated as the kind of caller its endpoint expects.
/// </summary>
public static class CallerSchemes
{
    /// <summary>A device or registry client reading images (delta API, signature delta API, <c>/v2/</c>).</summary>
    public const string DeviceClient = "DeviceClient";

    /// <summary>The operator: <c>/metrics</c> and the API document (<c>Observability:Token</c>).</summary>
    public const string Operator = "Operator";

    /// <summary>The registry notifying pushes (<c>Precompute:WebhookSecret</c>).</summary>
    public const string RegistryWebhook = "RegistryWebhook";

    /// <summary>A trusted peer trading its credentials (HTTP Basic) for a peer token.</summary>
    public const string PeerCredentials = "PeerCredentials";

    /// <summary>A peer with a peer token (Bearer).</summary>
    public const string Peer = "Peer";
}

/// <summary>The policies endpoints declare; every mapped endpoint declares one or is anonymous (a test holds them to it).</summary>
public static class CallerPolicies
{
    public const string DeviceClient = CallerSchemes.DeviceClient;
    public const string Operator = CallerSchemes.Operator;
    public const string RegistryWebhook = CallerSchemes.RegistryWebhook;
    public const string PeerCredentials = CallerSchemes.PeerCredentials;

    /// <summary>A peer token carrying <paramref name="scope"/> (one of the peer scopes; Peering registers these policies).</summary>
    public static string Peer(string scope) => $"{CallerSchemes.Peer}:{scope}";
}

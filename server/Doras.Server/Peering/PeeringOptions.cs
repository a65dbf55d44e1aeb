namespace Doras.Server.Peering;

/// <summary>
/// Configuration section "Peering": the peers this server calls (<see cref="Peers"/>, with our credentials at
/// each) and the peers it trusts to call it (<see cref="TrustedPeers"/>, with theirs). Read through
/// <c>IOptionsMonitor</c>, so rotated credentials take effect without a restart.
/// </summary>
public sealed class PeeringOptions
{
    public const string Section = "Peering";

    /// <summary>A JSON file of peering settings (<c>{"Peering": {...}}</c>), read after the other sources and reloaded when it changes; <c>doras-server peer add/trust</c> write it.</summary>
    public string? File { get; set; }

    /// <summary>Peers we call: primaries of our replicas, and helpers for pull delegation.</summary>
    public List<PeerOptions> Peers { get; set; } = [];

    /// <summary>Peers that may call our peer API, and what they may do there.</summary>
    public List<TrustedPeerOptions> TrustedPeers { get; set; } = [];

    /// <summary>How long a peer token we issue is valid; callers renew before it runs out.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a sublease token is valid after it is issued.</summary>
    public TimeSpan SubleaseLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most sublease tokens one peer may hold unused (asked for through the peer API), per instance.</summary>
    public int MaxOutstandingSubleases { get; set; } = 10;

    /// <summary>How often every replica is synced with its primary; zero turns the periodic sync off.</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The repository (in our own store) that holds the replica records and sublease tokens.</summary>
    public string StateRepository { get; set; } = "doras-peering";

    /// <summary>Most tags one sync exchanges (a replica's state, and a primary's answer).</summary>
    public int MaxSyncTags { get; set; } = 10_000;

    /// <summary>Peers (by name) asked to pull for us when our registry refuses a pull with 429 / TOOMANYREQUESTS, in order.</summary>
    public List<string> DelegatePullsTo { get; set; } = [];

    /// <summary>
    /// Pull-only credentials per registry, sent to our pull-delegation peers (<see cref="DelegatePullsTo"/>) for them to
    /// pull for us with. Never the server's own <c>Registry:Credentials</c>, which may push; with none for a registry,
    /// peers pull anonymously.
    /// </summary>
    public List<Stores.RegistryCredential> DelegationCredentials { get; set; } = [];

    /// <summary>Registries we pull from on behalf of trusted peers (pull delegation); no other host is contacted for them.</summary>
    public List<DelegationRegistry> DelegationRegistries { get; set; } = [];

    public PeerOptions? Peer(string name) => Peers.FirstOrDefault(p => p.Name == name);
}

/// <summary>A peer we call: where it is and the credentials it knows us by.</summary>
public sealed class PeerOptions
{
    public string Name { get; set; } = "";
    public string Url { get; set; } = "";
    public string Username { get; set; } = "";
    public string Password { get; set; } = "";

    /// <summary>Allow a plain-http <see cref="Url"/>: only on a trusted network (credentials and tokens cross it readable).</summary>
    public bool AllowHttp { get; set; }
}

/// <summary>A peer that may call us: its user name and password, and the scopes it may get tokens for.</summary>
public sealed class TrustedPeerOptions
{
    public string Username { get; set; } = "";
    public string Password { get; set; } = "";

    /// <summary>Subset of <see cref="PeerScopes.All"/>; <see cref="PeerScopes.Default"/> when empty (so <c>sublease</c> only when listed).</summary>
    public List<string> Scopes { get; set; } = [];

    public IReadOnlyCollection<string> AllowedScopes => Scopes.Count == 0 ? PeerScopes.Default : Scopes;
}

/// <summary>What a peer token may be used for; every peer endpoint names the one it needs.</summary>
public static class PeerScopes
{
    /// <summary>Read a repository's configuration, state, manifests, blobs and deltas, and register as its replica.</summary>
    public const string Replicate = "replicate";

    /// <summary>
    /// Ask for a sublease token of a repository we are primary of: with it the peer grants itself a replica of any of
    /// our repositories, so it is never given by default, only when the operator lists it for that peer.
    /// </summary>
    public const string Sublease = "sublease";

    /// <summary>Have us pull from an upstream registry on the caller's behalf.</summary>
    public const string DelegatePull = "delegate-pull";

    public static readonly IReadOnlyCollection<string> All = [Replicate, Sublease, DelegatePull];

    /// <summary>What a trusted peer may do when its configuration lists no scopes.</summary>
    public static readonly IReadOnlyCollection<string> Default = [Replicate, DelegatePull];
}

/// <summary>A registry we pull from for peers.</summary>
public sealed class DelegationRegistry
{
    public string Host { get; set; } = "";

    /// <summary>Plain HTTP: only for a registry on a trusted local network.</summary>
    public bool PlainHttp { get; set; }
}

/// <summary>The peering state repository, private to the server (see <see cref="Access.IPrivateRepositories"/>).</summary>
internal sealed class PeeringStateRepository(Microsoft.Extensions.Options.IOptionsMonitor<PeeringOptions> options) : Access.IPrivateRepositories
{
    public bool IsPrivate(string repository) => repository == options.CurrentValue.StateRepository;
}

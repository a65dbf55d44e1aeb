using System.Text.Json;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Peering;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Doras.Tests.Peering;

/// <summary>
/// One site of a peering test: a real docker-registry on loopback and a real Doras server in registry mode over
/// it, with a peers file the server watches. Admin commands run with the server's own settings.
/// </summary>
public sealed class PeerSite : IAsyncDisposable
{
    private readonly TempDirectory _dir;
    private RunningServer? _server;

    private PeerSite(RegistryProcess registry, TempDirectory dir, string[] args) => (Registry, _dir, Args) = (registry, dir, args);

    public RegistryProcess Registry { get; }
    public RunningServer Server => _server ?? throw new InvalidOperationException("the server was stopped");
    public string PeersFile => _dir["peers.json"];

    /// <summary>The server's settings, for admin commands.</summary>
    public string[] Args { get; }

    /// <param name="peering">The "Peering" section of the peers file (Peers, TrustedPeers, …).</param>
    public static Task<PeerSite> StartAsync(object peering, params string[] extraArgs) => StartAsync(peering, null, extraArgs);

    /// <param name="peering">The "Peering" section of the peers file (Peers, TrustedPeers, …).</param>
    /// <param name="clock">The server's clock (e.g. a <see cref="ShiftedClock"/>), or null for the system's.</param>
    /// <param name="extraArgs">More settings of the server.</param>
    public static async Task<PeerSite> StartAsync(object peering, TimeProvider? clock, params string[] extraArgs)
    {
        var registry = await RegistryProcess.StartAsync();
        var dir = new TempDirectory();
        var site = new PeerSite(registry, dir, [
            "--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Peering:File", dir["peers.json"], "--Peering:SyncInterval", "0", "--store", dir["unused-store"], .. extraArgs]);
        site.WritePeering(peering);
        site._server = clock is null ? await RunningServer.StartAsync(site.Args)
            : await RunningServer.StartAsync(b => b.Services.AddSingleton(clock), site.Args);
        return site;
    }

    /// <summary>A client of this site's registry (what a device or release engineer at the site uses).</summary>
    public RegistryClient RegistryClient() => new(Registry.Host, new RegistryClientOptions { PlainHttp = true });

    public void WritePeering(object peering) =>
        File.WriteAllText(PeersFile, JsonSerializer.Serialize(new { Peering = peering }));

    /// <summary>Rewrites the peers file and waits (bounded) until the running server has reloaded it.</summary>
    public async Task RewritePeeringAsync(object peering, Func<PeeringOptions, bool> loaded)
    {
        WritePeering(peering);
        var monitor = Server.Service<IOptionsMonitor<PeeringOptions>>();
        await Eventually.UntilAsync(() => loaded(monitor.CurrentValue), TimeSpan.FromSeconds(10), "the server reloads the peers file");
    }

    /// <summary>Runs <c>doras-server COMMAND …</c> with this site's settings (plus <paramref name="extra"/>).</summary>
    public async Task<(int Code, string Out, string Error)> AdminAsync(string[] command, params string[] extra)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var code = await AdminCommands.TryRunAsync([.. command, .. Args, .. extra], output, errors, new Doras.Server.Commands.ServerApp(Doras.Server.Hosting.DorasServer.Build, Doras.Server.Hosting.DorasServer.SettingSwitches));
        Assert.That(code, Is.Not.Null, "not an admin command");
        return (code!.Value, output.ToString(), errors.ToString());
    }

    /// <summary>What every tag of a repository in this site's registry points at.</summary>
    public async Task<Dictionary<string, Digest>> TagsAsync(string repository)
    {
        using var client = RegistryClient();
        var repo = client.Repository(repository);
        var tags = new Dictionary<string, Digest>();
        await foreach (var tag in repo.ListTagsAsync())
        {
            // A sync running beside us may list a tag whose manifest it has not finished writing or has just deleted;
            // such a tag is not (yet or any longer) there, so it is left out rather than failing the read.
            var manifest = await repo.StatManifestAsync(tag);
            if (manifest is not null) tags[tag] = manifest.Digest;
        }
        return tags;
    }

    public async Task StopServerAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        _server = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopServerAsync();
        await Registry.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>Two sites: a primary and a replica site that knows the primary as peer "primary", as user "site-a".</summary>
public static class TwoSites
{
    public const string User = "site-a";
    public const string Password = "first-secret-of-site-a-0123456789";

    public static Task<PeerSite> PrimaryAsync(params string[] extraArgs) =>
        PeerSite.StartAsync(new { TrustedPeers = new[] { new { Username = User, Password } } }, extraArgs);

    public static object ReplicaPeering(PeerSite primary, string password = Password) => ReplicaPeering(primary.Server.Url, password);

    /// <summary>Peer "primary" at <paramref name="url"/> (the primary itself, or something in front of it), over http on loopback.</summary>
    public static object ReplicaPeering(Uri url, string password = Password) =>
        new { Peers = new[] { new { Name = "primary", Url = url.ToString(), Username = User, Password = password, AllowHttp = true } } };

    public static Task<PeerSite> ReplicaAsync(PeerSite primary, params string[] extraArgs) => PeerSite.StartAsync(ReplicaPeering(primary), extraArgs);

    /// <summary>A replica site of the primary's fleet/app, made with a sublease token and synced (through <paramref name="peering"/>'s primary when given).</summary>
    public static Task<PeerSite> ReplicateAsync(PeerSite primary, object? peering = null, params string[] extraArgs) =>
        ReplicateAsync(primary, peering, null, extraArgs);

    /// <summary>As <see cref="ReplicateAsync(PeerSite, object?, string[])"/>, the replica's server running on <paramref name="clock"/>.</summary>
    public static Task<PeerSite> ReplicateWithClockAsync(PeerSite primary, TimeProvider clock) => ReplicateAsync(primary, null, clock);

    private static async Task<PeerSite> ReplicateAsync(PeerSite primary, object? peering, TimeProvider? clock, params string[] extraArgs)
    {
        var replica = await PeerSite.StartAsync(peering ?? ReplicaPeering(primary), clock, extraArgs);
        var (_, sublease, _) = await primary.AdminAsync(["sublease", "fleet/app", "--json"]);
        var token = System.Text.Json.JsonDocument.Parse(sublease).RootElement.GetProperty("token").GetString()!;
        var (code, _, errors) = await replica.AdminAsync(["replica", "add", "fleet/app", "--from", "primary", "--sublease", token]);
        Assert.That(code, Is.Zero, errors);
        return replica;
    }
}

using Microsoft.Extensions.DependencyInjection.Extensions;
using Doras.Server.Deltas;

namespace Doras.Server.Peering;

/// <summary>Registers peering with the server: its settings (and the peers file), services, sync and the peer API.</summary>
public static class PeeringSetup
{
    public static void AddPeering(this WebApplicationBuilder builder)
    {
        // The peers file comes last and is watched: peers and credentials change without a restart.
        if (builder.Configuration[$"{PeeringOptions.Section}:{nameof(PeeringOptions.File)}"] is { Length: > 0 } file)
            builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: true, reloadOnChange: true);
        var services = builder.Services;
        services.Configure<PeeringOptions>(builder.Configuration.GetSection(PeeringOptions.Section));
        services.AddHostedService<PeeringCheck>();
        services.AddSingleton<PeeringState>();
        services.AddSingleton<PeerGrants>();
        services.AddSingleton<PeerTokens>();
        services.AddPeerAuthorization();
        services.AddSingleton<PeerClients>();
        services.AddSingleton<PullDelegation>();
        services.AddSingleton<Stores.IRegistryTransportWrapper>(sp => sp.GetRequiredService<PullDelegation>());
        // The state repository (peers, grants, subleases) is the server's, never a caller's image.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Access.IPrivateRepositories, PeeringStateRepository>());
        services.AddSingleton<DelegatedPulls>();
        services.AddSingleton<ReplicaRecords>();
        services.AddSingleton<SubleaseQuota>();
        services.AddSingleton<Subleases>();
        services.AddSingleton<PrimaryRepositories>();
        services.AddSingleton<Replicas>();
        services.AddSingleton<ReplicaSync>();
        services.AddSingleton<ReplicaDeltas>();
        services.AddSingleton<IPrimaryDeltas>(sp => sp.GetRequiredService<ReplicaDeltas>());
        services.AddSingleton<ReplicaSyncService>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaSyncService>());
    }
}

namespace Doras.Server.Precompute;

/// <summary>The services of precomputing deltas on publication, registered in one place.</summary>
public static class PrecomputeServices
{
    public static IServiceCollection AddPrecompute(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<PrecomputeOptions>(configuration.GetSection(PrecomputeOptions.Section));
        services.AddSingleton<PublishedVersions>();
        services.AddSingleton<VersionHistory>();
        services.AddHostedService<Precomputer>();
        services.AddHostedService<StoreWatcher>();
        return services;
    }
}

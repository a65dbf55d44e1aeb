using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>The services of background delta builds, registered in one place.</summary>
public static class BuildServices
{
    public static IServiceCollection AddDeltaBuilds(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BuildQueueOptions>().Bind(configuration.GetSection(BuildQueueOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BuildQueueOptions>, ClaimTimingValidation>();
        services.AddOptions<DeltaOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<DeltaOptions>, BuildTimeValidation>();
        services.AddSingleton<BuildSlots>();
        services.AddSingleton<DeltaMetrics>();
        services.AddSingleton<BuildQueue>();
        services.AddSingleton<BuildEstimates>();
        services.AddSingleton<ScratchSpace>();
        services.AddSingleton<DeltaBuilder>();
        if (string.IsNullOrWhiteSpace(configuration.GetSection(BuildQueueOptions.Section)[nameof(BuildQueueOptions.RedisLease)]))
            services.AddSingleton<IBuildLease, NoBuildLease>();
        else
            services.AddSingleton<IBuildLease, RedisBuildLease>();
        services.AddSingleton<DeltaBuildCoordinator>();
        services.AddHostedService<BuildShutdown>();
        return services;
    }
}

using Doras.Delta.Algorithms;
using Doras.Delta.Zstd;
using Doras.Oci.Content;
using Doras.Server.Access;
using Doras.Server.Authorization;
using Doras.Server.Collection;
using Doras.Server.Deltas;
using Doras.Server.Endpoints;
using Doras.Server.Observability;
using Doras.Server.Precompute;
using Doras.Server.Peering;
using Microsoft.Extensions.Options;
using Doras.Server.Stores;

namespace Doras.Server.Hosting;

/// <summary>
/// Builds the delta server. Configuration follows ASP.NET Core: appsettings.json, then environment variables
/// (<c>DORAS_</c>-prefixed, e.g. <c>DORAS_Store__Path</c>), then command-line flags (<c>--store</c>,
/// <c>--log-level</c>, <c>--urls</c>, or any key as <c>--Section:Key value</c>).
/// </summary>
public static class DorasServer
{
    /// <summary>The short flags that are settings (<c>--store</c> for <c>Store:Path</c>, …), for commands that pass settings on.</summary>
    public static IReadOnlyDictionary<string, string> SettingSwitches => SwitchMappings;

    internal static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--store"] = "Store:Path",
        ["--log-level"] = "Logging:LogLevel:Default",
        ["--zstd-level"] = "Delta:ZstdLevel",
        ["--registry"] = "Registry:Host",
    };

    /// <summary>
    /// Every log line carries its UTC time (ISO 8601, milliseconds), plain or JSON, unless the operator set another
    /// format (<c>Logging:Console:FormatterOptions:TimestampFormat</c>): these run after the configuration is bound.
    /// </summary>
    private static void LogTimestamps(IServiceCollection services)
    {
        const string Iso = "yyyy-MM-ddTHH:mm:ss.fffZ";
        void Default(Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions options, string format)
        {
            if (options.TimestampFormat is not null) return;
            options.TimestampFormat = format;
            options.UseUtcTimestamp = true;
        }
        services.Configure<Microsoft.Extensions.Logging.Console.SimpleConsoleFormatterOptions>(o => Default(o, Iso + " "));
        services.Configure<Microsoft.Extensions.Logging.Console.JsonConsoleFormatterOptions>(o => Default(o, Iso));
        services.Configure<Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions>(o => Default(o, Iso + " ")); // systemd
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables("DORAS_");
        builder.Configuration.AddCommandLine(args, SwitchMappings);

        LogTimestamps(builder.Services);
        builder.Services.AddHostedService<StartupHousekeeping>(); // first: before the other services start their work
        builder.Services.Configure<StoreOptions>(builder.Configuration.GetSection(StoreOptions.Section));
        builder.Services.Configure<DeltaOptions>(builder.Configuration.GetSection(DeltaOptions.Section));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.Configure<RegistryOptions>(builder.Configuration.GetSection(RegistryOptions.Section));
        builder.Services.AddSingleton<ArtifactStores>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<ArtifactStores>().Server);
        builder.Services.AddSingleton(sp =>
        {
            var delta = sp.GetRequiredService<IOptions<DeltaOptions>>().Value;
            return DeltaAlgorithms.Default(delta.ZstdLevel, delta.ZstdWorkers, delta.BsdiffMaxInputBytes, sp.GetServices<IDeltaAlgorithm>());
        });
        builder.Services.AddSingleton<RegistryChallenge>();
        builder.Services.AddSingleton<ClientAccess>();
        builder.Services.AddCallerAuthorization();
        builder.Services.AddDeltaBuilds(builder.Configuration);
        builder.Services.AddPrecompute(builder.Configuration);
        builder.Services.AddSingleton<DeltaService>();
        builder.Services.Configure<AnswerCacheOptions>(builder.Configuration.GetSection(DeltaOptions.Section));
        builder.Services.AddSingleton<ReadyAnswers>();
        builder.Services.AddSingleton<DeltaAnswers>();
        builder.Services.Configure<GcOptions>(builder.Configuration.GetSection(GcOptions.Section));
        builder.Services.AddSingleton<DeltaUsage>();
        builder.Services.AddSingleton<GcMetrics>();
        builder.Services.AddSingleton<GarbageCollector>();
        builder.Services.AddHostedService<GcService>();
        builder.Services.AddSingleton<SignatureDeltaService>();
        builder.Services.AddExceptionHandler<UpstreamBusyHandler>();
        builder.Services.AddProblemDetails();
        builder.AddDorasObservability();
        builder.AddPeering();
        configure?.Invoke(builder);

        var app = builder.Build();
        // Every series is on /metrics from the start (at zero), not only once something records it.
        _ = app.Services.GetRequiredService<DeltaMetrics>();
        _ = app.Services.GetRequiredService<GcMetrics>();
        app.UseDorasObservability();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // After routing (the endpoint names its policy) and before any endpoint reads a body (Authorization/).
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapObservabilityEndpoints();
        // Every endpoint that reads images requires a device client (Authorization/DeviceClientHandler.cs).
        app.MapDeltaEndpoints();
        app.MapGroup("").RequireAuthorization(CallerPolicies.DeviceClient).MapRegistryEndpoints();
        app.MapRegistryWebhook(); // the registry, by its shared secret
        app.MapPeerEndpoints(); // trusted peers, by credentials or peer token
        return app;
    }
}

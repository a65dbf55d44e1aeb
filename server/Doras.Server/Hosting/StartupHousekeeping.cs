using Doras.Delta.Zstd;
using Doras.Server.Deltas;
using Doras.Server.Stores;

namespace Doras.Server.Hosting;

/// <summary>
/// What the server does once as it starts serving, and only then: removes build directories a killed server left,
/// and says which store it uses. Not done when the app is only built, so an admin command that edits the peers file
/// (<c>doras-server peer trust …</c>) creates no store directory and touches no scratch space.
/// </summary>
public sealed class StartupHousekeeping(ScratchSpace scratch, ArtifactStores stores, ILogger<StartupHousekeeping> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct)
    {
        var abandoned = scratch.RemoveAbandoned();
        if (abandoned > 0) logger.LogInformation("Removed {Count} build directories left by a server that was stopped mid-build", abandoned);
        logger.LogInformation("Doras server using {Store} and zstd {ZstdVersion}",
            stores.RegistryHost is { } host ? $"registry {host}" : $"store {stores.StorePath}", ZstdCodec.Default.Name);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

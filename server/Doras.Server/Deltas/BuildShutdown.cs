namespace Doras.Server.Deltas;

/// <summary>
/// Holds the host's shutdown (SIGTERM) until every build has stopped: the application-stopping token cancels them,
/// and each one releases its claim on the way out, so another instance builds those deltas at once instead of
/// waiting for the placeholders to expire. Bounded by the host's shutdown timeout.
/// </summary>
public sealed class BuildShutdown(DeltaBuildCoordinator builds, ILogger<BuildShutdown> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken ct)
    {
        logger.LogInformation("Stopping: {Running} builds running, releasing their claims", builds.Running);
        await builds.DrainAsync().WaitAsync(ct).ConfigureAwait(false);
    }
}

using Doras.Oci.Content;
using Doras.Server.Deltas;
using Doras.Server.Stores;

namespace Doras.Server.Observability;

/// <summary>One check of <c>/readyz</c>: its name and what is wrong, or null when it passed.</summary>
public sealed record ReadinessCheck(string Name, string? Failure);

/// <summary>
/// Whether the server can do its work now: the store is writable (embedded: a probe file is written and removed
/// in the store; registry: the registry answers <c>GET /v2/</c> with the server's credentials), and the build
/// scratch space is writable, and, with the strict lease (<c>Delta:RedisLease</c>), Redis answers: without it no
/// build can start. The answer is remembered for two seconds, so however often <c>/readyz</c> is asked,
/// the store and the registry are probed at most every two seconds; each probe is bounded by five seconds.
/// </summary>
public sealed class Readiness(ArtifactStores stores, ScratchSpace scratch, IBuildLease lease, TimeProvider time, ILogger<Readiness> logger,
    Access.RegistryChallenge? challenge = null)
{
    private static readonly TimeSpan Remember = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _probing = new(1, 1);
    private (IReadOnlyList<ReadinessCheck> Checks, DateTimeOffset At)? _last;

    public async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(CancellationToken ct)
    {
        if (Fresh() is { } known) return known;
        await _probing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Fresh() is { } probedMeanwhile) return probedMeanwhile;
            // Not tied to the asking request: a caller that hangs up must not leave a false failure remembered.
            using var timeout = new CancellationTokenSource(ProbeTimeout);
            List<ReadinessCheck> checks = [await StoreAsync(timeout.Token).ConfigureAwait(false), Scratch()];
            if (lease is RedisBuildLease redis)
                checks.Add(new ReadinessCheck("redis-lease", await redis.ProbeAsync(timeout.Token).ConfigureAwait(false)));
            if (stores.RequireClientAuth && stores.RegistryHost is not null && challenge is not null)
                checks.Add(new ReadinessCheck("client-auth", await challenge.MisconfigurationAsync(timeout.Token).ConfigureAwait(false)));
            foreach (var failed in checks.Where(c => c.Failure is not null))
                logger.LogWarning("Not ready: {Check}: {Failure}", failed.Name, failed.Failure);
            _last = (checks, time.GetUtcNow());
            return checks;
        }
        finally { _probing.Release(); }
    }

    private IReadOnlyList<ReadinessCheck>? Fresh() =>
        _last is { } last && time.GetUtcNow() - last.At < Remember ? last.Checks : null;

    private async Task<ReadinessCheck> StoreAsync(CancellationToken ct)
    {
        if (stores.Server is not IStoreProbe probe) return new ReadinessCheck("store", null);
        if (stores.RegistryHost is null)
        {
            try
            {
                await probe.ProbeAsync(ct).ConfigureAwait(false); // a probe file written and removed
                return new ReadinessCheck("store", null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return new ReadinessCheck("store", $"the store directory is not writable ({e.GetType().Name})");
            }
        }
        try
        {
            await probe.ProbeAsync(ct).ConfigureAwait(false); // GET /v2/ with the server's credentials
            return new ReadinessCheck("registry", null);
        }
        catch (HttpRequestException e) when (e.StatusCode is { } status)
        {
            return new ReadinessCheck("registry", $"the registry {stores.RegistryHost} answered the server's GET /v2/ with {(int)status} {status}");
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // The usual cause: a plain-HTTP registry spoken to with TLS. Say so, and the setting, not "unreachable".
            return new ReadinessCheck("registry", $"the TLS handshake with the registry {stores.RegistryHost} failed; if it speaks plain HTTP, set Registry:PlainHttp=true (a trusted network only)");
        }
        catch (HttpRequestException)
        {
            return new ReadinessCheck("registry", $"the registry {stores.RegistryHost} is not reachable");
        }
        catch (OperationCanceledException)
        {
            return new ReadinessCheck("registry", $"the registry {stores.RegistryHost} did not answer within {ProbeTimeout.TotalSeconds:0} s");
        }
    }

    private ReadinessCheck Scratch()
    {
        try
        {
            using (scratch.Create()) { }
            return new ReadinessCheck("scratch", null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The path goes to the operator's log; /readyz, open to anyone, names only the setting.
            logger.LogWarning("Not ready: {Reason}", e.Message);
            return new ReadinessCheck("scratch", "the build scratch directory (Delta:WorkDirectory) is not writable; the log names it");
        }
    }
}

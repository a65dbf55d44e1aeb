using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Doras.Server.Deltas;

/// <summary>
/// The strict claim (<c>Delta:RedisLease</c>): one Redis key per delta, set only if absent and with an expiry
/// (StackExchange.Redis's lock commands), renewed by the claim's heartbeat and deleted only by its owner. When
/// Redis cannot be reached, no lease is taken and nothing is built until it can (devices wait or download in full):
/// strict means never twice.
/// </summary>
public sealed class RedisBuildLease(IOptions<BuildQueueOptions> options, ILogger<RedisBuildLease> logger) : IBuildLease, IDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _redis = new(() => ConnectAsync(options.Value.RedisLease!));

    private static async Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        var settings = ConfigurationOptions.Parse(configuration);
        settings.AbortOnConnectFail = false; // reconnect in the background when Redis comes back
        return await ConnectionMultiplexer.ConnectAsync(settings).ConfigureAwait(false);
    }

    /// <summary>The Redis endpoints, as configured (never its password), to name in readiness failures and logs.</summary>
    public string Endpoints { get; } = string.Join(",", ConfigurationOptions.Parse(options.Value.RedisLease!).EndPoints.Select(EndPointCollection.ToString));

    /// <summary>
    /// For <c>/readyz</c>: null when Redis answers a PING, else why not. While Redis is down no build can start, so the
    /// server is not ready; the multiplexer reconnects in the background, so the answer turns back once Redis is up.
    /// </summary>
    public async Task<string?> ProbeAsync(CancellationToken ct)
    {
        try
        {
            var redis = await _redis.Value.WaitAsync(ct).ConfigureAwait(false);
            // Not connected: a PING would wait in the backlog until its timeout; say so at once instead.
            if (!redis.IsConnected) return $"Redis {Endpoints} (Delta:RedisLease) is not reachable";
            await redis.GetDatabase().PingAsync().WaitAsync(ct).ConfigureAwait(false);
            return null;
        }
        catch (RedisException)
        {
            return $"Redis {Endpoints} (Delta:RedisLease) is not reachable";
        }
        catch (OperationCanceledException)
        {
            return $"Redis {Endpoints} (Delta:RedisLease) did not answer in time";
        }
    }

    private static RedisKey KeyOf(DeltaKey key) => $"doras:delta-lease:{key.Repository}:{key.Tag}";

    public async Task<bool> TryTakeAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct)
    {
        try
        {
            var redis = await _redis.Value.WaitAsync(ct).ConfigureAwait(false);
            return await redis.GetDatabase().LockTakeAsync(KeyOf(key), owner, ttl).WaitAsync(ct).ConfigureAwait(false);
        }
        catch (RedisException e)
        {
            logger.LogWarning(e, "Redis lease for delta {Key} not taken: Redis is not reachable; the build waits", key);
            return false;
        }
    }

    public async Task<bool> RenewAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct)
    {
        var redis = await _redis.Value.WaitAsync(ct).ConfigureAwait(false);
        return await redis.GetDatabase().LockExtendAsync(KeyOf(key), owner, ttl).WaitAsync(ct).ConfigureAwait(false);
    }

    public async Task ReleaseAsync(DeltaKey key, string owner, CancellationToken ct)
    {
        var redis = await _redis.Value.WaitAsync(ct).ConfigureAwait(false);
        await redis.GetDatabase().LockReleaseAsync(KeyOf(key), owner).WaitAsync(ct).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_redis.IsValueCreated && _redis.Value.IsCompletedSuccessfully) _redis.Value.Result.Dispose();
    }
}

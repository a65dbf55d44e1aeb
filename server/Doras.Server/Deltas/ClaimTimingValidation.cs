using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>
/// Refuses, at start-up, claim timings under which other instances would take over live builds: the heartbeat must
/// renew a placeholder at least twice within its expiry (one renewal may be late or fail).
/// </summary>
public sealed class ClaimTimingValidation(IOptions<DeltaOptions> delta) : IValidateOptions<BuildQueueOptions>
{
    public ValidateOptionsResult Validate(string? name, BuildQueueOptions options)
    {
        var expiry = delta.Value.PlaceholderExpiry;
        if (options.HeartbeatInterval <= TimeSpan.Zero)
            return ValidateOptionsResult.Fail($"Delta:HeartbeatInterval must be positive, not {options.HeartbeatInterval}");
        if (options.HeartbeatInterval * 2 > expiry)
            return ValidateOptionsResult.Fail(
                $"Delta:HeartbeatInterval ({options.HeartbeatInterval}) must be at most half of Delta:PlaceholderExpiry ({expiry}), or other instances take over live builds");
        if (options.QueueCapacity < 1)
            return ValidateOptionsResult.Fail($"Delta:QueueCapacity must be at least 1, not {options.QueueCapacity}");
        return ValidateOptionsResult.Success;
    }
}

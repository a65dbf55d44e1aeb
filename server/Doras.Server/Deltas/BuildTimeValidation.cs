using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>
/// Refuses, at start-up, build time limits a timer cannot hold: each must be positive and under 49 days (what a
/// cancellation timer takes). Without this a large value failed every build with two candidates or more. Failure
/// retentions must not be negative.
/// </summary>
public sealed class BuildTimeValidation : IValidateOptions<DeltaOptions>
{
    private static readonly TimeSpan Longest = TimeSpan.FromDays(49);

    public ValidateOptionsResult Validate(string? name, DeltaOptions options)
    {
        foreach (var (setting, value) in new[] { ("Delta:AutoBudget", options.AutoBudget), ("Delta:BuildTimeout", options.BuildTimeout) })
            if (value <= TimeSpan.Zero || value > Longest)
                return ValidateOptionsResult.Fail($"{setting} must be positive and at most {Longest.TotalDays} days, not {value}");
        // A failure's retention is a time span added to dates, never a timer (0: failures are not remembered).
        foreach (var (setting, value) in new[] { ("Delta:FailureRetention", options.FailureRetention), ("Delta:MaxFailureRetention", options.MaxFailureRetention) })
            if (value < TimeSpan.Zero)
                return ValidateOptionsResult.Fail($"{setting} must not be negative, not {value}");
        return ValidateOptionsResult.Success;
    }
}

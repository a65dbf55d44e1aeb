using Doras.Server.Peering;
using Microsoft.Extensions.Options;

namespace Doras.Server.Hosting;

/// <summary>
/// Settings refused before the host starts: a mistake is then one line and a usage exit code (2), as the admin
/// commands give, not a host that crashes with an <see cref="OptionsValidationException"/>'s stack trace (exit 134).
/// </summary>
public static class SettingsCheck
{
    public const int UsageExitCode = 2;

    /// <summary>Runs every start-up validation (ValidateOnStart ones and the peering rules); throws <see cref="OptionsValidationException"/>.</summary>
    public static void Validate(IServiceProvider services)
    {
        var refused = new List<Exception>();
        foreach (var check in new Action[]
                 {
                     () => services.GetService<IStartupValidator>()?.Validate(),
                     () => PeeringCheck.Validate(services.GetRequiredService<IOptionsMonitor<PeeringOptions>>().CurrentValue),
                 })
        {
            try { check(); }
            catch (Exception e) when (Refusals(e) is not null) { refused.Add(e); } // every refusal, not only the first
        }
        if (refused.Count > 0) throw new AggregateException(refused);
    }

    /// <summary>The lines to print for a refused setting, or null when <paramref name="e"/> is not one.</summary>
    public static IReadOnlyList<string>? Refusals(Exception e) => e switch
    {
        OptionsValidationException one => [.. one.Failures],
        AggregateException many when many.InnerExceptions.All(i => Refusals(i) is not null) =>
            [.. many.InnerExceptions.SelectMany(i => Refusals(i)!)],
        _ => null,
    };
}

namespace Doras.Tests.Support;

/// <summary>
/// The system clock stopped at one instant until <see cref="Thaw"/>: a test can read a value the server computes
/// from the time elapsed (Retry-After from a build's estimate) without a loaded machine moving it. Timers and
/// timestamps stay the system's; once thawed, the clock is the system's again.
/// </summary>
public sealed class FrozenClock : TimeProvider
{
    private readonly DateTimeOffset _frozenAt = System.GetUtcNow();
    private volatile bool _thawed;

    public override DateTimeOffset GetUtcNow() => _thawed ? base.GetUtcNow() : _frozenAt;

    public void Thaw() => _thawed = true;
}

namespace Doras.Tests.Support;

/// <summary>
/// The system clock moved forward on demand, for a server whose remembered answers (e.g. <c>/readyz</c>'s two
/// seconds) a test must see expire without waiting: timers and timestamps stay the system's.
/// </summary>
public sealed class ShiftedClock : TimeProvider
{
    private long _shiftTicks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _shiftTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _shiftTicks, by.Ticks);
}

using Doras.Oci;

namespace Doras.EdgeClient.Updates;

/// <summary>
/// The one overall time limit of an update (<see cref="UpdateOptions.Timeout"/>), and what the update was doing
/// and last failed on, so that when it passes the message says why.
/// </summary>
internal sealed class UpdateDeadline(TimeSpan timeout, TimeProvider time)
{
    private readonly long _start = time.GetTimestamp();

    public bool IsInfinite => timeout == System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>Time left (infinite when there is no limit).</summary>
    public TimeSpan Remaining => IsInfinite ? timeout : timeout - time.GetElapsedTime(_start);

    public bool HasPassed => !IsInfinite && Remaining <= TimeSpan.Zero;

    /// <summary>How long to wait for the server to build a delta: half the time left, so a full download still fits after it.</summary>
    public TimeSpan DeltaWait => IsInfinite ? timeout : Remaining / 2;

    public UpdatePhase Phase { get; set; } = UpdatePhase.Checking;

    /// <summary>The last transient failure retried, if any.</summary>
    public Exception? LastFailure { get; set; }

    public UpdateTimeoutException Expired(string reference, Exception inner) => new(
        $"the update of {reference} gave up after {Format.Duration(timeout)}: " +
        (LastFailure?.Message ?? $"no answer in time while {Format.Phase(Phase)}"), inner);
}

/// <summary>An update's overall deadline (<see cref="UpdateOptions.Timeout"/>) passed; the message names the last cause.</summary>
public sealed class UpdateTimeoutException(string message, Exception? inner = null) : TimeoutException(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Timeout;
}

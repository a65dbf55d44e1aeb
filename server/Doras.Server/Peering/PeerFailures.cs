using Doras.Oci;

namespace Doras.Server.Peering;

/// <summary>Which failures of a call to a peer are the peer's or the link's, decided by their kind.</summary>
internal static class PeerFailures
{
    /// <summary>
    /// The peer refused, lacked, was busy, unreachable, slow, or sent what cannot be used; or our settings name it badly
    /// (its kind is Internal: the server's settings, yet only that peer is affected). Not our own stopping
    /// (<paramref name="ct"/>) and not a bug here: those propagate.
    /// </summary>
    public static bool IsPeers(Exception e, CancellationToken ct) => e is PeerNotConfiguredException || Failures.KindOf(e) switch
    {
        FailureKind.Network or FailureKind.Busy or FailureKind.Timeout or FailureKind.Unauthorized or FailureKind.NotFound or FailureKind.Verification => true,
        FailureKind.Cancelled => !ct.IsCancellationRequested, // the peer call's own deadline, not our stopping
        _ => false,
    };
}

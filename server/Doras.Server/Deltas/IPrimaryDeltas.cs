using Doras.Oci.Content;

namespace Doras.Server.Deltas;

/// <summary>
/// Where a replica gets the deltas of a repository another server is the primary of, instead of building them
/// (peering's <c>ReplicaDeltas</c>): the seam that keeps the delta service free of peering.
/// </summary>
public interface IPrimaryDeltas
{
    /// <summary>The delta's state at the primary (copied here once it is ready); null when this server is the repository's primary, so it builds the delta itself.</summary>
    Task<BuildState?> FromPrimaryAsync(DeltaKey key, IOciRepository local, IReadOnlyList<string> accepted, CancellationToken ct);
}

namespace Doras.Server.Deltas;

/// <summary>
/// An optional lock beside the placeholders. The registry has no compare-and-swap on tags, so two instances that
/// claim the same delta within <c>Delta:ClaimSettleDelay</c> of each other can both see their own placeholder and
/// both build; a lease with an atomic "set if absent" (Redis) makes the claim strict.
/// </summary>
public interface IBuildLease
{
    /// <summary>Takes the lease on <paramref name="key"/> for <paramref name="owner"/>, or false when another owner holds it.</summary>
    Task<bool> TryTakeAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct);

    /// <summary>Extends the lease; false when it is no longer this owner's.</summary>
    Task<bool> RenewAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct);

    /// <summary>Gives the lease up, if it is still this owner's.</summary>
    Task ReleaseAsync(DeltaKey key, string owner, CancellationToken ct);
}

/// <summary>No lease (the default): the placeholders alone decide, last writer wins.</summary>
public sealed class NoBuildLease : IBuildLease
{
    public Task<bool> TryTakeAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct) => Task.FromResult(true);
    public Task<bool> RenewAsync(DeltaKey key, string owner, TimeSpan ttl, CancellationToken ct) => Task.FromResult(true);
    public Task ReleaseAsync(DeltaKey key, string owner, CancellationToken ct) => Task.CompletedTask;
}

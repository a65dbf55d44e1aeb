namespace Doras.Server.Peering;

/// <summary>
/// How many sublease tokens each peer holds unused (issued to it through the peer API, not yet redeemed here, not
/// expired), so one peer cannot fill our store with them: at most <c>Peering:MaxOutstandingSubleases</c> at a time.
/// Counted by this instance (a token redeemed on another one counts here until it expires: the bound errs on the
/// side of refusing). Tokens the operator issues (<c>doras-server sublease</c>) are not counted.
/// </summary>
public sealed class SubleaseQuota(TimeProvider time)
{
    private readonly Dictionary<string, Dictionary<string, DateTimeOffset>> _held = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Counts one more token for <paramref name="peer"/> if it holds fewer than <paramref name="max"/>; false otherwise.</summary>
    public bool TryTake(string peer, string token, DateTimeOffset expires, int max)
    {
        lock (_lock)
        {
            var held = _held.TryGetValue(peer, out var h) ? h : _held[peer] = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            var now = time.GetUtcNow();
            foreach (var expired in held.Where(t => t.Value <= now).Select(t => t.Key).ToList()) held.Remove(expired);
            if (held.Count >= max) return false;
            held[token] = expires;
            return true;
        }
    }

    /// <summary>A token was redeemed: it no longer counts for whoever held it.</summary>
    public void Redeemed(string token)
    {
        lock (_lock)
            foreach (var held in _held.Values) held.Remove(token);
    }
}

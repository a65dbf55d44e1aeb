using System.Security.Cryptography;
using System.Text;

namespace Doras.Server.Authorization;

/// <summary>
/// The one rule for a shared secret sent as <c>Authorization: Bearer SECRET</c> (the operator's token, the registry
/// webhook's secret): the scheme in any case, then both sides hashed before a constant-time comparison, so neither
/// the secret's bytes nor its length can be learned from how long a refusal takes. <see cref="Same"/> is that
/// comparison for any shared secret (a trusted peer's Basic credentials).
/// </summary>
public static class BearerSecret
{
    private const string Scheme = "Bearer ";

    public static bool Matches(string header, string secret) =>
        header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) && Same(header[Scheme.Length..].Trim(), secret);

    /// <summary>Whether <paramref name="given"/> is <paramref name="secret"/>: fixed-length hashes compared in constant time.</summary>
    public static bool Same(string given, string secret) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}

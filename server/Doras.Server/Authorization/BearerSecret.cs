using System.Security.Cryptography;
using System.Text;

namespace Doras.Server.Authorization;

/// <summary>
/// The one rule for a shared secret sent as <c>Authorization: Bearer SECRET</c> (the operator's token, the registry
/// webhook's secret): the scheme in any case, then both sides hashed before a constant-time comparison, so neither
/// the secret's bytes nor its length can be learned from how long a refusal takes.
/// </summary>
internal static class BearerSecret
{
    private const string Scheme = "Bearer ";

    public static bool Matches(string header, string secret) =>
        header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
        && CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim())), SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}

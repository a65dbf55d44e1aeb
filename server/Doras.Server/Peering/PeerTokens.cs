using System.Security.Cryptography;
using System.Text;
using Doras.Server.Authorization;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Doras.Server.Peering;

/// <summary>A peer admitted by its token: who it is and what the token lets it do.</summary>
public sealed record PeerIdentity(string Name, IReadOnlySet<string> Scopes);

/// <summary>
/// Issues and checks the tokens of our peer API: HS256 JWTs for one trusted peer and a set of scopes, signed
/// with a key derived from that peer's password (HKDF-SHA256, salted with its user name, labelled with the key's
/// purpose; passwords are at least <see cref="PeeringRules.MinSecretLength"/> characters, and a trusted peer with a
/// shorter one is not trusted). So every instance configured with the same trusted peers accepts the same tokens
/// (no shared signing key to distribute), and rotating a peer's password ends the tokens issued under the old one
/// (its next call gets 401 and fetches a new token).
/// </summary>
public sealed class PeerTokens(IOptionsMonitor<PeeringOptions> options, TimeProvider time)
{
    private const string Issuer = "doras-peer-api";
    private const string ScopeClaim = "scope";
    private readonly JsonWebTokenHandler _handler = new();

    /// <summary>The purpose the signing keys are derived for (HKDF's info), so the same password keys nothing else.</summary>
    public static ReadOnlySpan<byte> KeyPurpose => "doras peer API token signing key v1"u8;

    /// <summary>The trusted peers as configured, less any whose password breaks <see cref="PeeringRules"/> (logged on reload).</summary>
    private IEnumerable<TrustedPeerOptions> Trusted =>
        options.CurrentValue.TrustedPeers.Where(p => p.Username.Length > 0 && PeeringRules.SecretProblem("", p.Username, p.Password) is null);

    /// <summary>
    /// The trusted peer these Basic credentials belong to, or null. Compared as the house compares secrets (<see cref="BearerSecret.Same"/>:
    /// hashed first, so a wrong password's length is not told by the time a refusal takes).
    /// </summary>
    public TrustedPeerOptions? Authenticate(string username, string password) =>
        Trusted.FirstOrDefault(p => BearerSecret.Same(username, p.Username) & BearerSecret.Same(password, p.Password));

    /// <summary>A token for <paramref name="peer"/> with <paramref name="scopes"/>, and how long it is valid.</summary>
    public (string Token, TimeSpan Lifetime) Issue(TrustedPeerOptions peer, IReadOnlyCollection<string> scopes)
    {
        var now = time.GetUtcNow();
        var expires = now + options.CurrentValue.TokenLifetime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Issuer,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object> { [JwtRegisteredClaimNames.Sub] = peer.Username, [ScopeClaim] = string.Join(' ', scopes) },
            SigningCredentials = new SigningCredentials(KeyOf(peer), SecurityAlgorithms.HmacSha256),
        });
        return (token, expires - now);
    }

    /// <summary>The peer a token was issued to, or why it is not accepted (unknown peer, bad signature, expired).</summary>
    public async Task<(PeerIdentity? Peer, string? Refusal)> ValidateAsync(string token)
    {
        if (!_handler.CanReadToken(token)) return (null, "the bearer token is not a peer token");
        string? subject;
        // CanReadToken only looks at the shape (three dot-separated parts): "a.b.c" passes it and fails to decode.
        try { subject = _handler.ReadJsonWebToken(token).Subject; }
        catch (ArgumentException) { return (null, "the bearer token is not a peer token"); }
        var peer = Trusted.FirstOrDefault(p => p.Username == subject);
        if (peer is null) return (null, "the token names no peer this server trusts");
        var result = await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Issuer,
            IssuerSigningKey = KeyOf(peer),
            ClockSkew = TimeSpan.FromSeconds(30),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        }).ConfigureAwait(false);
        if (!result.IsValid)
            return (null, result.Exception is SecurityTokenExpiredException ? "the peer token has expired" : "the peer token is not valid (signed with other credentials?)");
        var scopes = (result.Claims.TryGetValue(ScopeClaim, out var s) ? s as string ?? "" : "")
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Intersect(peer.AllowedScopes).ToHashSet(StringComparer.Ordinal);
        return (new PeerIdentity(peer.Username, scopes), null);
    }

    /// <summary>The signing key of one peer's tokens: derived from its password, so a new password ends the old tokens.</summary>
    private static SymmetricSecurityKey KeyOf(TrustedPeerOptions peer) =>
        new(HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(peer.Password), 32, Encoding.UTF8.GetBytes(peer.Username), KeyPurpose.ToArray()));
}

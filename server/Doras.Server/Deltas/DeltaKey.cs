using System.Security.Cryptography;
using System.Text;
using Doras.Oci.Model;

namespace Doras.Server.Deltas;

/// <summary>
/// Identifies one delta: repository, from and to manifest digests, algorithm. Its tag is derived
/// deterministically, so any server instance (or a restarted one) finds a stored delta without a database.
/// </summary>
public sealed record DeltaKey(string Repository, Digest From, Digest To, string Algorithm)
{
    /// <summary><c>_delta-&lt;sha256(fromHex + toHex + algorithm)&gt;</c>: 71 characters, a valid tag.</summary>
    public string Tag => "_delta-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(From.Hex + To.Hex + Algorithm)));

    public override string ToString() => $"{Repository} {From} -> {To} ({Algorithm})";
}

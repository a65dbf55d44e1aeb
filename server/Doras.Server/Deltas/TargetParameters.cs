using Doras.Api;
using Doras.Oci.Model;
using Doras.Server.Access;

namespace Doras.Server.Deltas;

/// <summary>
/// The target of a delta, named by exactly one of <c>to_digest</c> and <c>to_tag</c>: the rule the delta and
/// signature delta requests share, written once.
/// </summary>
public static class TargetParameters
{
    public static ApiProblem? CheckExactlyOne(string? toDigest, string? toTag) =>
        string.IsNullOrEmpty(toDigest) == string.IsNullOrEmpty(toTag)
            ? ApiProblem.Invalid($"give exactly one of '{DeltaApi.ToDigest}' and '{DeltaApi.ToTag}'")
            : null;

    /// <summary>The target image, parsed and checked to be of this server's registry (call after <see cref="CheckExactlyOne"/>).</summary>
    public static (Reference? Image, ApiProblem? Problem) Parse(ClientAccess access, string? toDigest, string? toTag) =>
        string.IsNullOrEmpty(toDigest) ? access.ParseImage(toTag!, DeltaApi.ToTag) : access.ParseImage(toDigest, DeltaApi.ToDigest);
}

using Doras.Api;
using Doras.Server.Access;

namespace Doras.Server.Peering;

/// <summary>The problems the peer API answers with, beside the shared ones of <see cref="ApiProblem"/>: titles once, here.</summary>
public static class PeerProblems
{
    public static ApiProblem Invalid(string detail) => ApiProblem.Invalid(detail, "Invalid peer request");

    /// <summary>This server replicates the repository, so it is not the one to ask for <paramref name="what"/>.</summary>
    public static ApiProblem NotPrimary(string repository, string primary, string what) =>
        new(StatusCodes.Status409Conflict, ProblemTypes.InvalidRequest, "Not the primary", $"{repository} is a replica of peer '{primary}' here; {what}");

    /// <summary>A sublease token that cannot create a replica (<paramref name="title"/> says why: required, unknown, used, expired).</summary>
    public static ApiProblem SubleaseRefused(string title, string detail) => new(StatusCodes.Status403Forbidden, ProblemTypes.Unauthorized, title, detail);

    public static ApiProblem UpstreamRefused(int status, string detail) =>
        new(status, status >= 500 || status == StatusCodes.Status429TooManyRequests ? ProblemTypes.Busy : ProblemTypes.Unauthorized,
            "Upstream registry refused the delegated pull", detail);
}

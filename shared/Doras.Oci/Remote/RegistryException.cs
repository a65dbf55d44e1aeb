using System.Net;

namespace Doras.Oci.Remote;

/// <summary>One entry of a registry's <c>{"errors":[{"code","message","detail"}]}</c>; <see cref="Detail"/> is its JSON as sent.</summary>
public sealed record RegistryError(string Code, string Message, string? Detail = null);

/// <summary>
/// A registry answered with an error status: the message is the one line people read, the status and the
/// distribution spec's error codes stay data, so callers decide by them rather than by the text.
/// </summary>
public sealed class RegistryException(string message, HttpStatusCode status, IReadOnlyList<RegistryError> errors)
    : HttpRequestException(message, null, status), IFailure
{
    public HttpStatusCode Status { get; } = status;

    public IReadOnlyList<RegistryError> Errors { get; } = errors;

    public FailureKind Kind => Failures.KindOf(Status);

    public bool IsTransient => Transience.IsTransient(Status);

    /// <summary>Whether the registry gave this distribution error code (e.g. <c>MANIFEST_UNKNOWN</c>).</summary>
    public bool Has(string code) => Errors.Any(e => string.Equals(e.Code, code, StringComparison.OrdinalIgnoreCase));
}

namespace Doras.Oci.Content;

/// <summary>Content did not match the digest or size it was announced with.</summary>
public sealed class DigestMismatchException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Verification;
}

/// <summary>A tag, digest or repository a store does not have.</summary>
public sealed class NotFoundException(string message) : Exception(message), IFailure
{
    public FailureKind Kind => FailureKind.NotFound;
}

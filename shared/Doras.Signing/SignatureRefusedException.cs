using Doras.Oci;

namespace Doras.Signing;

/// <summary>Why a version was not accepted as its publisher's: each has its own words in the refusal.</summary>
public enum RefusalReason
{
    /// <summary>No signature of any kind was found for the version.</summary>
    NoSignature,
    /// <summary>Signatures were found, but none by a trusted key or identity.</summary>
    UntrustedKey,
    /// <summary>A signature by a trusted key does not verify: the signed bytes or the signature were changed.</summary>
    BadSignature,
    /// <summary>A valid signature by a trusted key, of another version: its payload names another digest.</summary>
    OtherDigest,
    /// <summary>The signature or its certificate is past its validity.</summary>
    Expired,
    /// <summary>The signature material is malformed or over its bounds (too many, too large).</summary>
    Malformed,
}

/// <summary>
/// A version the device was asked to install that no trusted publisher signed. Nothing is installed; the message names
/// the reference, the digest and the reason, in one line.
/// </summary>
public sealed class SignatureRefusedException(string reference, string digest, RefusalReason reason, string detail)
    : Exception($"{reference} ({digest}) is refused: {Describe(reason)}: {detail}"), IFailure
{
    public string Reference { get; } = reference;
    public string Digest { get; } = digest;
    public RefusalReason Reason { get; } = reason;

    public FailureKind Kind => FailureKind.Untrusted;

    public static string Describe(RefusalReason reason) => reason switch
    {
        RefusalReason.NoSignature => "no signature",
        RefusalReason.UntrustedKey => "not signed by a trusted key",
        RefusalReason.BadSignature => "bad signature",
        RefusalReason.OtherDigest => "the signature names another digest",
        RefusalReason.Expired => "expired",
        RefusalReason.Malformed => "malformed signature",
        _ => reason.ToString(),
    };
}

/// <summary>A key or key file that cannot be used: unreadable, of an unsupported kind, or the wrong password.</summary>
public sealed class KeyFileException(string message, Exception? inner = null) : Exception(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Usage;
}
